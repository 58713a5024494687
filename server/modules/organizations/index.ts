import { z } from 'zod';
import { defineModule } from '../module.ts';
import { createOrganizationLimits, type OrganizationLimitsAdmission } from './limits.ts';
import { organizationRoutes } from './routes.ts';
import { createOrganizationsService, type OrganizationsService as OrganizationStore } from './service.ts';

export type {
  LimitedResource,
  OrganizationLimitInput,
  OrganizationLimits,
  OrganizationLimitsAdmission,
} from './limits.ts';
export { InvitationSchema, MemberSchema, OrganizationWithRole } from './schemas.ts';
export type { Invitation, Member, Organization } from './service.ts';

/** The organizations module's service: its store and the `organization.limits` check other modules call. */
export type OrganizationsService = OrganizationStore & OrganizationLimitsAdmission;

declare module '../module.ts' {
  interface ModuleServices {
    organizations: OrganizationsService;
  }
}

/** Organizations (developers, agencies with sub-accounts, customer accounts), members and invitations. */
export default defineModule({
  name: 'organizations',
  requires: ['audit', 'events', 'identity', 'mail'],
  tables: ['organizations', 'memberships', 'invitations'],
  scopes: [
    { name: 'account:read', sensitivity: 'basic', consentText: 'See the name and settings of your account' },
    {
      name: 'users:read',
      sensitivity: 'basic',
      consentText: 'See the names and roles of the people in your account',
    },
    {
      name: 'users:read_email',
      sensitivity: 'personal',
      consentText: 'See the email addresses of the people in your account',
    },
  ],
  eventTypes: [
    {
      type: 'organization.created',
      description: 'An organization or sub-account was created.',
      scope: null,
      payload: z.object({
        organizationId: z.string(),
        kind: z.enum(['developer', 'agency', 'account']),
        name: z.string(),
        parentId: z.string().optional(),
      }),
    },
  ],
  createService: ({ db, config, audit, events, identity, mail, extensions }) => {
    const limits = createOrganizationLimits(extensions);
    return Object.assign(
      createOrganizationsService({ db, config, audit, events, identity, mail, limits }),
      limits,
    );
  },
  routes: ({ organizations }) => organizationRoutes({ organizations }),
});
