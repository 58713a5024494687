import { z } from 'zod';
import { OrgKindSchema, RoleSchema, Timestamp } from '../../http/route.ts';

// The service's DTOs are the z.output of these (service.ts).

/** An organization as its members see it: with the caller's role (also the profile page's list). */
export const OrganizationWithRole = z
  .object({
    id: z.string(),
    kind: OrgKindSchema,
    name: z.string(),
    parentId: z.string().nullable().describe('The owning agency of a sub-account'),
    createdAt: Timestamp,
    role: RoleSchema.describe("The caller's role in it"),
  })
  .meta({ id: 'Organization' });

export const MemberSchema = z
  .object({ userId: z.string(), name: z.string(), email: z.string(), role: RoleSchema, joinedAt: Timestamp })
  .meta({ id: 'Member' });

export const InvitationSchema = z
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
