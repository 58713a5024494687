import { z } from 'zod';
import { defineRoute, Pagination, page, Timestamp } from '../../http/route.ts';
import type { Installation } from '../installations/index.ts';
import type { OAuthService } from './service.ts';

/**
 * Routes of the OAuth module beside the provider itself (/oauth): the app's
 * own installations, with its client-credentials token: list them, get an
 * installation's tokens (installations it did not receive through the code
 * flow, e.g. an agency's bulk install), uninstall itself.
 *
 * How an app gets tokens for a bulk install: it learns of the installation
 * (the `app.installed` webhook once webhooks exist; for now by listing
 * `GET /v1/app/installations`), then calls
 * `POST /v1/app/installations/:installationId/token` with its
 * client-credentials token and stores the answer like a code exchange's:
 * the access token carries the installation's account and scopes, the
 * refresh token is used at `/oauth/token` as usual (rotation, grace window).
 */
const AppInstallation = z
  .object({
    id: z.string(),
    accountId: z.string(),
    versionId: z.string().describe('The app version the account consented to'),
    grantedScopes: z.array(z.string()),
    status: z.enum(['active', 'uninstalled']),
    createdAt: Timestamp,
    uninstalledAt: Timestamp.nullable(),
  })
  .meta({ id: 'AppInstallation' });

const DeveloperInstallation = AppInstallation.extend({
  accountName: z.string().nullable().describe('The name of the account it is installed in'),
}).meta({ id: 'DeveloperInstallation' });

const InstallationTokens = z
  .object({
    access_token: z.string().describe("A JWT for the Plaza API, bound to the installation's account"),
    token_type: z.string().describe('Bearer'),
    expires_in: z.number().int().describe('Seconds until the access token expires'),
    refresh_token: z
      .string()
      .describe('Use at /oauth/token (grant_type=refresh_token); rotated on every use'),
    scope: z.string().describe('The granted scopes, space-separated'),
  })
  .meta({ id: 'InstallationTokens' });

const appInstallation = (i: Installation) => ({
  id: i.id,
  accountId: i.accountId,
  versionId: i.versionId,
  grantedScopes: i.grantedScopes,
  status: i.status,
  createdAt: i.createdAt,
  uninstalledAt: i.uninstalledAt,
});

const InstallationParams = z.object({ installationId: z.string().max(64) });

export function oauthRoutes({ oauth }: { oauth: OAuthService }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/app/installations',
      summary: "App: list the app's active installations",
      tag: 'App API',
      access: { kind: 'app_client' },
      query: Pagination,
      response: page(AppInstallation),
      async handler({ client, query }) {
        const found = await oauth.listAppInstallations(client.appId, query);
        return { ...found, data: found.data.map(appInstallation) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/apps/:appId/installations',
      summary: "List the accounts that have a developer organization's app installed",
      tag: 'Apps',
      access: { kind: 'org', orgKinds: ['developer'] },
      params: z.object({ orgId: z.string().max(64), appId: z.string().max(64) }),
      query: Pagination,
      response: page(DeveloperInstallation),
      async handler({ org, params, query }) {
        const found = await oauth.listInstallationsForDeveloper(org, params.appId, query);
        return {
          ...found,
          data: found.data.map((i) => ({ ...appInstallation(i), accountName: i.accountName })),
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/app/installations/:installationId/token',
      // For installations the app did not get through the code flow (an agency's bulk install): the same
      // tokens the token endpoint gives after a code exchange. Each call starts a new refresh-token chain.
      summary: "App: get an installation's access and refresh tokens (client credentials)",
      tag: 'App API',
      access: { kind: 'app_client' },
      params: InstallationParams,
      response: InstallationTokens,
      async handler({ client, params, ctx, actor }) {
        const tokens = await oauth.issueInstallationTokens(client, params.installationId, actor);
        ctx.set('Cache-Control', 'no-store');
        ctx.set('Pragma', 'no-cache');
        return tokens;
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/app/installations/:installationId',
      // Revokes the grant and every token of it at once (app.uninstalled, reason uninstalled_by_app).
      summary: 'App: uninstall the app from an installation',
      tag: 'App API',
      access: { kind: 'app_client' },
      params: InstallationParams,
      response: AppInstallation,
      handler: async ({ client, params, actor }) =>
        appInstallation(await oauth.uninstallForApp(client.appId, params.installationId, actor)),
    }),
  ];
}
