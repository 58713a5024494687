import { z } from 'zod';
import { OrgKindSchema, RoleSchema, Timestamp } from '../../http/route.ts';

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
