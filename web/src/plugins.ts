import { reactive } from 'vue';
import type { RouteComponent, RouteLocationNormalized, Router } from 'vue-router';
import { request } from './api.ts';
import type { ResponseOf } from './generated/openapi.ts';
import OrgLayout from './pages/OrgLayout.vue';
import { session } from './session.ts';

export type EnabledPlugin = ResponseOf<'/v1/plugins', 'get'>['data'][number];
export type PluginPage = EnabledPlugin['pages'][number];
type OrgLike = { kind: string; role: string };

/**
 * Every plugin page in the repository, as a lazy chunk: the build bundles
 * them all, the app registers routes only for the plugins the server says
 * are enabled (GET /v1/plugins). The fixture plugins' pages are there for the
 * end-to-end tests; no route reaches them unless such a plugin is enabled.
 */
const components = import.meta.glob<RouteComponent>([
  '../../plugins/*/web/*.vue',
  '../../test/fixtures/plugins/*/web/*.vue',
]);

/** `plugins/billing/web/PlanPage.vue` wins over a test fixture of the same name. */
function componentOf(plugin: string, file: string): (() => Promise<RouteComponent>) | undefined {
  return (
    components[`../../plugins/${plugin}/web/${file}`] ??
    components[`../../test/fixtures/plugins/${plugin}/web/${file}`]
  );
}

export const plugins = reactive({ loaded: false, list: [] as EnabledPlugin[] });

const RANK: Record<string, number> = { member: 1, admin: 2, owner: 3 };
const reaches = (org: OrgLike, minRole: string, kinds: string[] | null) =>
  (RANK[org.role] ?? 0) >= (RANK[minRole] ?? 9) && (!kinds || kinds.includes(org.kind));

export const orgPageRoute = (plugin: string, page: PluginPage) =>
  `plugin-${plugin}-${page.path.replaceAll('/', '-')}`;

/** The org pages of enabled plugins this person sees in this organization's navigation. */
export function orgPluginPages(org: OrgLike | null) {
  if (!org) return [];
  return plugins.list.flatMap((p) =>
    p.pages
      .filter((page) => page.area === 'org' && reaches(org, page.minRole, page.orgKinds))
      .map((page) => ({ plugin: p.name, page, name: orgPageRoute(p.name, page) })),
  );
}

/** Operator pages for the signed-in person's platform role. */
export function operatorPluginPages() {
  const role = session.user?.platformRole;
  if (!role) return [];
  return plugins.list.flatMap((p) =>
    p.pages
      .filter((page) => page.area === 'operator' && page.platformRoles.includes(role))
      .map((page) => ({ plugin: p.name, page, name: orgPageRoute(p.name, page) })),
  );
}

/** Enabled plugins whose settings this person may change in this organization. */
export function settingsPlugins(org: OrgLike | null) {
  if (!org) return [];
  return plugins.list.filter((p) => p.settings && reaches(org, p.settings.minRole, p.settings.orgKinds));
}

/**
 * Before the first navigation: reads the enabled plugins and adds a route
 * for each of their pages whose component the build has, then navigates
 * again so a page of a plugin opened directly (a reload, a link) resolves.
 * A plugin page refuses (not found) people its manifest does not name.
 */
export function installPluginRoutes(router: Router): void {
  // The generic settings page of every plugin (from each plugin's JSON Schema).
  router.addRoute({
    path: '/orgs/:orgId/plugin-settings',
    component: OrgLayout,
    props: true,
    children: [
      {
        path: '',
        name: 'plugin-settings',
        component: () => import('./pages/PluginSettingsPage.vue'),
        meta: { title: 'Plugin settings' },
      },
    ],
  });
  let loading: Promise<boolean> | undefined;
  const load = async () => {
    try {
      plugins.list = (await request<ResponseOf<'/v1/plugins', 'get'>>('GET', '/v1/plugins')).data;
    } catch {
      plugins.list = []; // The app still works without its plugins' pages.
    }
    plugins.loaded = true;
    let added = false;
    for (const p of plugins.list)
      for (const page of p.pages) {
        const component = componentOf(p.name, page.component);
        if (!component) continue;
        const name = orgPageRoute(p.name, page);
        const meta = { title: page.title, pluginPage: page };
        if (page.area === 'org')
          router.addRoute({
            path: `/orgs/:orgId/x/${p.name}/${page.path}`,
            component: OrgLayout,
            props: true,
            children: [{ path: '', name, component, meta }],
          });
        else router.addRoute({ path: `/operator/x/${p.name}/${page.path}`, name, component, meta });
        added = true;
      }
    return added;
  };

  router.beforeEach(async (to: RouteLocationNormalized) => {
    if (!loading) {
      loading = load();
      // The first navigation resolved before the plugin routes existed: resolve it again.
      if ((await loading) && to.name === 'not-found') return to.fullPath;
    }
    await loading;
    const page = to.meta.pluginPage as PluginPage | undefined;
    if (!page) return true;
    const allowed =
      page.area === 'operator'
        ? page.platformRoles.some((r) => r === session.user?.platformRole)
        : (() => {
            const org = session.organizations.find((o) => o.id === to.params.orgId);
            // Agencies' admins reach their sub-accounts' pages; the server checks every call anyway.
            return !org || reaches(org, page.minRole, page.orgKinds);
          })();
    return allowed ? true : { name: 'not-found', params: { pathMatch: to.path.slice(1).split('/') } };
  });
}
