import { z } from 'zod';
import { defineRoute, Pagination, page, Timestamp } from '../../http/route.ts';
import type { InstallationsService } from './service.ts';

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

export function installationRoutes({ installations }: { installations: InstallationsService }) {
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
      handler: ({ org, query }) => installations.listForAccount(org, query),
    }),
  ];
}
