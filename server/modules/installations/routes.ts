import { z } from 'zod';
import { defineRoute, Pagination, page } from '../../http/route.ts';
import type { OrgContext } from '../../tenancy.ts';
import { InstallationSchema, InstalledAppSchema } from './schemas.ts';
import type { Installation, InstallationsService } from './service.ts';
import type { DescribeInstallations } from './views.ts';

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
