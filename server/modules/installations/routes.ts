import { z } from 'zod';
import { defineRoute, Pagination, page, Timestamp } from '../../http/route.ts';
import type { OrgContext } from '../../tenancy.ts';
import type { Installation, InstallationsService } from './service.ts';

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

/** The API shape: the OAuth grant id stays inside Plaza. */
const publicInstallation = ({ grantId: _grantId, ...inst }: Installation) => inst;

export function installationRoutes({
  installations,
  uninstall,
}: {
  installations: InstallationsService;
  /** Uninstalls and revokes the OAuth grant and every token of it (the OAuth module). */
  uninstall: (ctx: OrgContext, installationId: string) => Promise<Installation>;
}) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/installations',
      summary: 'List the apps installed in an account',
      tag: 'Installations',
      access: { kind: 'org', orgKinds: ['account'] },
      params: z.object({ orgId: z.string().max(64) }),
      query: Pagination,
      response: page(InstallationSchema),
      handler: async ({ org, query }) => {
        const found = await installations.listForAccount(org, query);
        return { ...found, data: found.data.map(publicInstallation) };
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
