import { z } from 'zod';
import type { Db } from '../db/index.ts';
import { forbidden, notFound } from '../errors.ts';
import { type AnyRoute, defineRoute, OrgKindSchema, RoleSchema } from '../http/route.ts';
import type { PluginManifest } from '../plugin-api/manifest.ts';
import { hasRole } from '../tenancy.ts';
import type { SettingsStore } from './settings.ts';

const PluginPageSchema = z
  .object({
    path: z.string(),
    component: z.string(),
    title: z.string(),
    area: z.enum(['org', 'operator']),
    minRole: RoleSchema,
    orgKinds: z.array(OrgKindSchema).nullable().describe('null: every kind'),
    platformRoles: z.array(z.enum(['admin', 'reviewer'])),
  })
  .meta({ id: 'PluginPage' });

const EnabledPluginSchema = z
  .object({
    name: z.string(),
    version: z.string(),
    description: z.string().nullable(),
    pages: z.array(PluginPageSchema),
    hasSettings: z.boolean(),
    settings: z
      .object({ minRole: RoleSchema, orgKinds: z.array(OrgKindSchema).nullable() })
      .nullable()
      .describe('Who may read and change the per-organization settings'),
  })
  .meta({ id: 'EnabledPlugin' });

const PluginSettingsSchema = z
  .object({
    plugin: z.string(),
    values: z.record(z.string(), z.unknown()).describe('The settings, defaults applied'),
    schema: z.record(z.string(), z.unknown()).describe('JSON Schema of the values (the form)'),
  })
  .meta({ id: 'PluginSettings' });

export interface HostPlugin {
  manifest: PluginManifest<any, any>;
  settings?: SettingsStore;
}

/** What GET /v1/plugins says of a plugin: the web app builds its routes and navigation from it. */
export function describePlugin({ manifest, settings }: HostPlugin): z.input<typeof EnabledPluginSchema> {
  return {
    name: manifest.name,
    version: manifest.version,
    description: manifest.description ?? null,
    pages: (manifest.web?.pages ?? []).map((p) => ({
      path: p.path,
      component: p.component,
      title: p.title,
      area: p.area,
      minRole: p.minRole ?? 'member',
      orgKinds: p.orgKinds ?? null,
      platformRoles: p.platformRoles ?? ['admin'],
    })),
    hasSettings: Boolean(settings),
    settings: settings
      ? { minRole: settings.decl.minRole ?? 'admin', orgKinds: settings.decl.orgKinds ?? null }
      : null,
  };
}

/**
 * The host's own routes, there whether or not plugins are enabled (so the API
 * and its types do not change with PLAZA_PLUGINS): the enabled plugins, and
 * each plugin's per-organization settings.
 */
export function hostRoutes(plugins: HostPlugin[], db: Db): AnyRoute[] {
  const byName = new Map(plugins.map((p) => [p.manifest.name, p]));
  const params = z.object({ orgId: z.string(), plugin: z.string().max(40) });

  /** The plugin's settings store, if this organization has them and the caller's role reaches them. */
  const storeFor = (org: Parameters<typeof hasRole>[0], plugin: string): SettingsStore => {
    const store = byName.get(plugin)?.settings;
    const kinds = store?.decl.orgKinds;
    if (!store || (kinds && !kinds.includes(org.org.kind))) throw notFound('plugin settings');
    const minRole = store.decl.minRole ?? 'admin';
    if (!hasRole(org, minRole)) throw forbidden(`the settings of ${plugin} need the ${minRole} role`);
    return store;
  };
  const answer = async (plugin: string, store: SettingsStore, values: Record<string, unknown>) => ({
    plugin,
    values,
    schema: store.jsonSchema() as Record<string, unknown>,
  });

  return [
    defineRoute({
      method: 'get',
      path: '/v1/plugins',
      summary: 'List the enabled plugins',
      tag: 'Plugins',
      access: { kind: 'public' },
      response: z.object({ data: z.array(EnabledPluginSchema) }),
      handler: async () => ({ data: plugins.map(describePlugin) }),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/plugins/:plugin/settings',
      summary: 'Get a plugin’s settings for an organization',
      tag: 'Plugins',
      access: { kind: 'org' },
      params,
      response: PluginSettingsSchema,
      handler: async ({ org, params: p }) => {
        const store = storeFor(org, p.plugin);
        return answer(p.plugin, store, await store.get(org.org.id));
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/organizations/:orgId/plugins/:plugin/settings',
      summary: 'Change a plugin’s settings for an organization',
      tag: 'Plugins',
      access: { kind: 'org' },
      params,
      body: z.object({
        values: z.record(z.string(), z.unknown()).describe('Fields to change; the others keep their value'),
      }),
      response: PluginSettingsSchema,
      handler: async ({ org, params: p, body }) => {
        const store = storeFor(org, p.plugin);
        const values = await db.transaction((tx) =>
          store.set(tx, org.org.id, body.values, org.actor, 'body.values'),
        );
        return answer(p.plugin, store, values);
      },
    }),
  ];
}
