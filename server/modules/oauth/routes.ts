import { z } from 'zod';
import { defineRoute, Pagination, page, Timestamp } from '../../http/route.ts';
import type { Installation } from '../installations/service.ts';
import { BULK_INSTALL_MAX } from './bulk-install.ts';
import type { OAuthService } from './service.ts';

/**
 * Routes of the OAuth module beside the provider itself (/oauth):
 *
 * - Agency installs: an agency owner or admin previews an app for its
 *   sub-accounts and installs it into several of them at once.
 * - The app's own installations, with its client-credentials token: list
 *   them, get an installation's tokens (installations it did not receive
 *   through the code flow, e.g. an agency's bulk install), uninstall itself.
 *
 * How an app gets tokens for a bulk install: it learns of the installation
 * (the `app.installed` webhook once webhooks exist; for now by listing
 * `GET /v1/app/installations`), then calls
 * `POST /v1/app/installations/:installationId/token` with its
 * client-credentials token and stores the answer like a code exchange's:
 * the access token carries the installation's account and scopes, the
 * refresh token is used at `/oauth/token` as usual (rotation, grace window).
 */
const Sensitivity = z.enum(['basic', 'personal', 'financial']);

const BulkInstallPreview = z
  .object({
    app: z.object({
      id: z.string(),
      slug: z.string(),
      name: z.string(),
      tagline: z.string(),
      developerName: z.string(),
      iconUrl: z.string().nullable(),
      privacyUrl: z.string().nullable(),
      termsUrl: z.string().nullable(),
      version: z
        .object({ id: z.string(), number: z.number().int() })
        .describe('The live version; send its id back as versionId when installing'),
    }),
    scopes: z
      .array(
        z.object({
          name: z.string(),
          consentText: z.string().describe('The scope in plain words, as the consent page shows it'),
          sensitivity: Sensitivity,
          optional: z.boolean().describe('Optional scopes are granted only when chosen'),
        }),
      )
      .describe('Every scope the app asks for'),
    subAccounts: page(
      z.object({
        id: z.string(),
        name: z.string(),
        installed: z.boolean(),
        installationId: z.string().nullable(),
        grantedScopes: z.array(z.string()).nullable(),
        installable: z.boolean().describe('Not installed yet, and the app can be installed here now'),
        reason: z.string().nullable().describe('Why it cannot be installed here'),
      }),
    ),
  })
  .meta({ id: 'BulkInstallPreview' });

const BulkInstallRequest = z
  .object({
    appId: z.string().max(64).optional(),
    slug: z.string().max(64).optional().describe('The marketplace slug, instead of appId'),
    subAccountIds: z
      .array(z.string().max(64))
      .min(1)
      .max(BULK_INSTALL_MAX)
      .describe(`Sub-accounts of this agency (at most ${BULK_INSTALL_MAX})`),
    scopes: z
      .array(z.string().max(100))
      .max(100)
      .default([])
      .describe('Optional scopes to grant; required scopes are always granted (listing them is fine)'),
    versionId: z
      .string()
      .max(64)
      .optional()
      .describe(
        "The preview's app version: when the app has a newer live version, nothing is installed (409)",
      ),
  })
  .refine((b) => Boolean(b.appId) !== Boolean(b.slug), {
    message: 'name the app by appId or by slug (one of them)',
    path: ['appId'],
  });

const BulkInstallResult = z
  .object({
    app: z.object({ id: z.string(), name: z.string() }),
    versionId: z
      .string()
      .nullable()
      .describe('The version installed; null when no sub-account could take it'),
    grantedScopes: z.array(z.string()),
    results: z.array(
      z.object({
        subAccountId: z.string(),
        status: z.enum(['installed', 'already_installed', 'not_sub_account', 'not_installable']),
        installationId: z.string().nullable().describe('The new installation, or the one already there'),
        detail: z.string().nullable(),
      }),
    ),
    installed: z.number().int(),
    failed: z.number().int(),
  })
  .meta({ id: 'BulkInstallResult' });

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
      path: '/v1/organizations/:orgId/bulk-installs/apps/:slug',
      summary: "Preview installing an app into an agency's sub-accounts (scopes in plain words, who has it)",
      tag: 'Installations',
      access: { kind: 'org', orgKinds: ['agency'], minRole: 'admin' },
      params: z.object({ orgId: z.string().max(64), slug: z.string().max(64) }),
      query: Pagination,
      response: BulkInstallPreview,
      handler: ({ org, params, query }) => oauth.bulkInstallPreview(org, params.slug, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/bulk-installs',
      // Each sub-account gets its own grant and installation (app.installed, audited with the agency
      // admin as the actor); each one is reported, and one that fails leaves nothing behind.
      summary: 'Install an app into several sub-accounts of an agency at once',
      tag: 'Installations',
      access: { kind: 'org', orgKinds: ['agency'], minRole: 'admin' },
      params: z.object({ orgId: z.string().max(64) }),
      body: BulkInstallRequest,
      response: BulkInstallResult,
      handler: ({ org, body }) => oauth.bulkInstall(org, body),
    }),
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
