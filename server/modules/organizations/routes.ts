import { z } from 'zod';
import {
  defineRoute,
  Email,
  OrgKindSchema,
  Pagination,
  page,
  RoleSchema,
  Timestamp,
} from '../../http/route.ts';
import { OrganizationWithRole } from './schemas.ts';
import type { OrganizationsService } from './service.ts';

const Member = z
  .object({ userId: z.string(), name: z.string(), email: z.string(), role: RoleSchema, joinedAt: Timestamp })
  .meta({ id: 'Member' });

const Invitation = z
  .object({
    id: z.string(),
    organizationId: z.string(),
    email: z.string(),
    role: RoleSchema,
    invitedBy: z.string(),
    createdAt: Timestamp,
    expiresAt: Timestamp,
  })
  .meta({ id: 'Invitation' });

const OrgName = z.string().trim().min(1, { message: 'must not be empty' }).max(200);
const OrgParams = z.object({ orgId: z.string().max(64) });
const TokenParams = z.object({ token: z.string().min(10).max(200) });

export function organizationRoutes({ organizations }: { organizations: OrganizationsService }) {
  return [
    defineRoute({
      method: 'post',
      path: '/v1/organizations',
      summary: 'Create an organization',
      tag: 'Organizations',
      access: { kind: 'user' },
      apiKeys: false,
      status: 201,
      body: z.object({ name: OrgName, kind: OrgKindSchema }),
      response: OrganizationWithRole,
      handler: ({ actor, body }) => organizations.create(actor, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId',
      summary: 'Get an organization',
      tag: 'Organizations',
      access: { kind: 'org' },
      params: OrgParams,
      response: OrganizationWithRole,
      handler: ({ org }) => organizations.get(org),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/organizations/:orgId',
      summary: 'Rename an organization',
      tag: 'Organizations',
      access: { kind: 'org', minRole: 'admin' },
      params: OrgParams,
      body: z.object({ name: OrgName }),
      response: OrganizationWithRole,
      handler: ({ org, body }) => organizations.rename(org, body.name),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/sub-accounts',
      summary: 'List sub-accounts',
      tag: 'Organizations',
      access: { kind: 'org', orgKinds: ['agency'] },
      params: OrgParams,
      query: Pagination,
      response: page(OrganizationWithRole),
      handler: ({ org, query }) => organizations.listSubAccounts(org, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/sub-accounts',
      summary: 'Create a sub-account',
      tag: 'Organizations',
      access: { kind: 'org', orgKinds: ['agency'], minRole: 'admin' },
      status: 201,
      params: OrgParams,
      body: z.object({ name: OrgName }),
      response: OrganizationWithRole,
      idempotent: true,
      handler: ({ org, body }) => organizations.createSubAccount(org, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/members',
      summary: 'List members',
      tag: 'Members',
      access: { kind: 'org' },
      params: OrgParams,
      query: Pagination,
      response: page(Member),
      handler: ({ org, query }) => organizations.listMembers(org, query),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/organizations/:orgId/members/:userId',
      summary: 'Change a member role',
      tag: 'Members',
      access: { kind: 'org', minRole: 'admin' },
      params: OrgParams.extend({ userId: z.string().max(64) }),
      body: z.object({ role: RoleSchema }),
      response: Member,
      handler: ({ org, params, body }) => organizations.changeRole(org, params.userId, body.role),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/organizations/:orgId/members/:userId',
      summary: 'Remove a member',
      tag: 'Members',
      access: { kind: 'org' },
      params: OrgParams.extend({ userId: z.string().max(64) }),
      handler: ({ org, params }) => organizations.removeMember(org, params.userId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/invitations',
      summary: 'List pending invitations',
      tag: 'Members',
      access: { kind: 'org', minRole: 'admin' },
      params: OrgParams,
      query: Pagination,
      response: page(Invitation),
      handler: ({ org, query }) => organizations.listInvitations(org, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/invitations',
      summary: 'Invite a member',
      tag: 'Members',
      access: { kind: 'org', minRole: 'admin' },
      status: 201,
      params: OrgParams,
      body: z.object({ email: Email, role: RoleSchema.default('member') }),
      response: Invitation,
      idempotent: true,
      handler: ({ org, body }) => organizations.invite(org, body),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/organizations/:orgId/invitations/:invitationId',
      summary: 'Revoke an invitation',
      tag: 'Members',
      access: { kind: 'org', minRole: 'admin' },
      params: OrgParams.extend({ invitationId: z.string().max(64) }),
      handler: ({ org, params }) => organizations.revokeInvitation(org, params.invitationId),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/invitations/:token',
      summary: 'Preview an invitation',
      tag: 'Members',
      access: { kind: 'public' },
      params: TokenParams,
      response: z.object({
        organization: z.object({ id: z.string(), name: z.string(), kind: OrgKindSchema }),
        email: z.string(),
        role: RoleSchema,
        expiresAt: Timestamp,
      }),
      handler: ({ params }) => organizations.previewInvitation(params.token),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/invitations/:token/accept',
      summary: 'Accept an invitation',
      tag: 'Members',
      access: { kind: 'user' },
      apiKeys: false,
      params: TokenParams,
      response: z.object({ organization: OrganizationWithRole }),
      handler: ({ actor, params }) => organizations.acceptInvitation(actor, params.token),
    }),
  ];
}
