import { z } from 'zod';
import { defineRoute, Pagination, page, Timestamp } from '../../http/route.ts';
import type { OrgContext } from '../../tenancy.ts';
import type { Installation, InstallationsService } from './service.ts';
import type { DescribeInstallations } from './views.ts';

export const InstallationSchema = z
  .object({
    id: z.string(),
    accountId: z.string(),
    appId: z.string(),
    versionId: z.string().describe('The app version the account consented to'),
    grantedScopes: z.array(z.string()),
    installedBy: z.string().nullable().describe('User id of the person who installed it'),
    status: z.enum(['active', 'uninstalled']),
    createdAt: Timestamp,
    uninstalledAt: Timestamp.nullable(),
  })
  .meta({ id: 'Installation' });

const ScopeInWords = z.object({
  name: z.string(),
  description: z.string().describe('What the scope lets the app do, in plain words'),
  sensitivity: z.enum(['basic', 'personal', 'financial']),
});

export const InstalledAppSchema = InstallationSchema.extend({
  app: z.object({
    id: z.string(),
    slug: z.string(),
    name: z.string(),
    iconUrl: z.string().nullable(),
    status: z.string().describe('active, suspended or unpublished'),
  }),
  version: z.object({
    id: z.string(),
    number: z.number().int().nullable().describe('The version the account consented to'),
  }),
  installedByName: z.string().nullable().describe('Name of the person who installed it'),
  scopes: z.array(ScopeInWords).describe('The granted scopes in plain words'),
  upgrade: z
    .object({
      versionId: z.string(),
      versionNumber: z.number().int(),
      scopes: z.array(ScopeInWords.extend({ optional: z.boolean() })),
      approveUrl: z
        .string()
        .nullable()
        .describe(
          "The app's install link with plaza_url: it leads to Plaza's consent page, where approving upgrades the installation in place. Null when the app has none",
        ),
    })
    .nullable()
    .describe('The live version asks for scopes the installation lacks (null: nothing to approve)'),
}).meta({ id: 'InstalledApp' });

/** The API shape: the OAuth grant id stays inside Plaza. */
const publicInstallation = ({ grantId: _grantId, ...inst }: Installation) => inst;

export function installationRoutes({
  installations,
  uninstall,
  describe,
}: {
  installations: InstallationsService;
  /** The app, version, installer and scopes in words of each installation (views.ts). */
  describe: DescribeInstallations;
  /** Uninstalls and revokes the OAuth grant and every token of it (the OAuth module). */
  uninstall: (ctx: OrgContext, installationId: string) => Promise<Installation>;
}) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/installations',
      // Members see the list; owners and admins uninstall and approve upgrades.
      summary: 'List the apps installed in an account',
      tag: 'Installations',
      access: { kind: 'org', orgKinds: ['account'] },
      params: z.object({ orgId: z.string().max(64) }),
      query: Pagination,
      response: page(InstalledAppSchema),
      handler: async ({ org, query }) => {
        const found = await installations.listForAccount(org, query);
        return { ...found, data: await describe(found.data) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/organizations/:orgId/installations/:installationId',
      // Closes the installation and revokes its OAuth grant and every token of it at once; access
      // tokens already issued are refused by every API process within a second. Emits app.uninstalled.
      summary: 'Uninstall an app from an account (revokes its grant and tokens)',
      tag: 'Installations',
      access: { kind: 'org', orgKinds: ['account'], minRole: 'admin' },
      params: z.object({ orgId: z.string().max(64), installationId: z.string().max(64) }),
      response: InstallationSchema,
      handler: async ({ org, params }) => publicInstallation(await uninstall(org, params.installationId)),
    }),
  ];
}
