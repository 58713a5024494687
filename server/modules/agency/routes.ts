import { z } from 'zod';
import { defineRoute, Pagination, page } from '../../http/route.ts';
import { BULK_INSTALL_MAX } from './bulk-install.ts';
import type { AgencyService } from './service.ts';

/**
 * Agency installs: an agency owner or admin previews an app for its
 * sub-accounts and installs it into several of them at once. The app then
 * gets each installation's tokens with its client credentials
 * (`POST /v1/app/installations/:installationId/token`, the OAuth module).
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

export function agencyRoutes({ agency }: { agency: AgencyService }) {
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
      handler: ({ org, params, query }) => agency.bulkInstallPreview(org, params.slug, query),
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
      // A retry after a lost answer must not install twice (or report the first run's sub-accounts as already installed).
      idempotent: true,
      handler: ({ org, body }) => agency.bulkInstall(org, body),
    }),
  ];
}
