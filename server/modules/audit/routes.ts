import { z } from 'zod';
import { defineRoute, Pagination, page, Timestamp } from '../../http/route.ts';
import type { AuditService } from './service.ts';

const AuditEntry = z
  .object({
    id: z.string(),
    organizationId: z.string().nullable(),
    action: z.string().describe('session.created, member.role_changed, api_key.revoked ...'),
    actorUserId: z.string().nullable(),
    actorEmail: z.string().nullable(),
    actorApiKeyId: z.string().nullable(),
    targetType: z.string().nullable(),
    targetId: z.string().nullable(),
    ip: z.string().nullable(),
    requestId: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
    createdAt: Timestamp,
  })
  .meta({ id: 'AuditEntry' });

export function auditRoutes({ audit }: { audit: AuditService }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/audit-log',
      summary: 'Organization audit log',
      tag: 'Audit',
      access: { kind: 'org', minRole: 'admin' },
      params: z.object({ orgId: z.string().max(64) }),
      query: Pagination,
      response: page(AuditEntry),
      handler: ({ org, query }) => audit.listForOrganization(org, query),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/me/audit-log',
      summary: 'My security log',
      tag: 'Audit',
      access: { kind: 'user' },
      apiKeys: false,
      query: Pagination,
      response: page(AuditEntry),
      handler: ({ actor, query }) => audit.listForUser(actor.userId!, query),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/admin/audit-log',
      summary: 'Platform audit log',
      tag: 'Operators',
      access: { kind: 'platform', roles: ['admin'] },
      query: Pagination.extend({ organizationId: z.string().max(64).optional() }),
      response: page(AuditEntry),
      handler: ({ query }) => audit.listAll(query),
    }),
  ];
}
