import { z } from 'zod';
import type { Config } from '../../config.ts';
import { forbidden } from '../../errors.ts';
import { defineRoute, Pagination, page, RoleSchema, Timestamp } from '../../http/route.ts';
import { SYSTEM_ACTOR } from '../../tenancy.ts';
import type { AppsService } from '../apps/index.ts';
import type { InstallationsService } from '../installations/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import type { WebhooksService } from '../webhooks/index.ts';

/**
 * The app-facing API beside contacts: the account's profile (`account:read`),
 * its people (`users:read`, emails only with `users:read_email`), and the
 * calling app itself (client credentials). The account is the token's, never
 * a path parameter.
 */
const AccountProfile = z
  .object({
    id: z.string(),
    name: z.string(),
    locale: z.string().nullable().describe('Language of the account (BCP 47), null when not set'),
    plan: z.string().nullable().describe('The account plan, when a billing plugin sets one'),
    agency: z
      .object({ id: z.string(), brandName: z.string() })
      .nullable()
      .describe('The agency that owns this sub-account, under its brand; null for a direct customer'),
    testAccount: z.boolean().describe("A developer's test account (development mode)"),
    createdAt: Timestamp,
  })
  .meta({ id: 'AppAccount' });

const AccountUser = z
  .object({
    userId: z.string(),
    name: z.string(),
    email: z.string().optional().describe('Only with the users:read_email scope'),
    role: RoleSchema,
    joinedAt: Timestamp,
  })
  .meta({ id: 'AppUser' });

const AppSelf = z
  .object({
    appId: z.string(),
    clientId: z.string(),
    name: z.string(),
    slug: z.string(),
    status: z.string().describe('active, unpublished or suspended'),
    activeInstallations: z.number().int().describe('Accounts the app is installed in'),
    liveVersion: z
      .object({
        id: z.string(),
        number: z.number().int(),
        scopes: z.array(z.object({ name: z.string(), optional: z.boolean() })),
      })
      .nullable()
      .describe('The reviewed version accounts install; null before the first approval'),
    installUrl: z
      .string()
      .nullable()
      .describe("The live version's install link (where the marketplace's Install button goes)"),
    marketplaceUrl: z.string().describe("The app's page in the marketplace"),
    webhookEndpoints: z.array(
      z.object({
        id: z.string(),
        url: z.string(),
        eventTypes: z.array(z.string()).describe('Empty: every event type the app may receive'),
        enabled: z.boolean(),
      }),
    ),
  })
  .meta({ id: 'AppSelf' });

export function appApiRoutes(deps: {
  config: Config;
  organizations: OrganizationsService;
  installations: InstallationsService;
  apps: AppsService;
  webhooks: WebhooksService;
}) {
  const { organizations, installations, apps, webhooks, config } = deps;
  return [
    defineRoute({
      method: 'get',
      path: '/v1/account',
      summary: 'App: get the account',
      tag: 'App API',
      access: { kind: 'app', scope: 'account:read' },
      response: AccountProfile,
      async handler({ app }) {
        const org = await organizations.byId(app.org.id);
        if (!org) throw forbidden('the account of this token no longer exists');
        const parent = org.parentId ? await organizations.byId(org.parentId) : undefined;
        return {
          id: org.id,
          name: org.name,
          locale: null,
          plan: null,
          agency: parent?.kind === 'agency' ? { id: parent.id, brandName: parent.name } : null,
          testAccount: parent?.kind === 'developer',
          createdAt: org.createdAt,
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/users',
      summary: 'App: list the people of the account',
      tag: 'App API',
      access: { kind: 'app', scope: 'users:read' },
      query: Pagination,
      response: page(AccountUser),
      async handler({ app, query }) {
        const members = await organizations.listMembers(app, query);
        const withEmail = app.app.scopes.includes('users:read_email');
        return {
          nextCursor: members.nextCursor,
          data: members.data.map((m) => ({
            userId: m.userId,
            name: m.name,
            ...(withEmail ? { email: m.email } : {}),
            role: m.role,
            joinedAt: m.joinedAt,
          })),
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/app',
      summary: 'App: get the calling app',
      tag: 'App API',
      access: { kind: 'app_client' },
      response: AppSelf,
      async handler({ client }) {
        const [info, active, endpoints] = await Promise.all([
          apps.installedAppInfo([client.appId], []),
          installations.countActive(client.appId),
          webhooks.listEndpoints(
            {
              appId: client.appId,
              appName: '',
              organizationId: '',
              actor: SYSTEM_ACTOR,
              via: 'app',
            },
            { limit: 100 },
          ),
        ]);
        const app = info.apps.get(client.appId);
        if (!app) throw forbidden('this app no longer exists');
        return {
          appId: client.appId,
          clientId: client.clientId,
          name: app.name,
          slug: app.slug,
          status: app.status,
          activeInstallations: active,
          liveVersion: app.live
            ? {
                id: app.live.versionId,
                number: app.live.number,
                scopes: app.live.scopes.map((s) => ({ name: s.name, optional: s.optional })),
              }
            : null,
          installUrl: app.live?.installUrl ?? null,
          marketplaceUrl: `${config.baseUrl}/marketplace/${app.slug}`,
          webhookEndpoints: endpoints.data.map((e) => ({
            id: e.id,
            url: e.url,
            eventTypes: e.eventTypes,
            enabled: e.enabled,
          })),
        };
      },
    }),
  ];
}
