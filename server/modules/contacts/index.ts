import type { ExtensionRegistry } from '../../lib/extension-points.ts';
import { defineModule } from '../module.ts';
import { appContactRoutes, contactFieldRoutes, contactRoutes } from './routes.ts';
import { CONTACT_EVENT_TYPES, type ContactsService, createContactsService } from './service.ts';

export { fieldValueProblem } from './fields.ts';
export * from './schemas.ts';
export type { ContactsService } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    contacts: ContactsService;
  }
}

/**
 * Whether a plugin extends `organization.limits` (its check then runs in each
 * create's transaction). Extension points are sealed once plugins are set up,
 * so the answer is kept from then on.
 */
function planLimited(extensions: ExtensionRegistry): () => boolean {
  let sealed: boolean | undefined;
  return () => {
    if (sealed !== undefined) return sealed;
    const added = extensions.list().some((p) => p.id === 'organization.limits' && p.added.length > 0);
    if (extensions.sealed) sealed = added;
    return added;
  };
}

/** An account's contacts, for people in the web app and for installed apps through the app API. */
export default defineModule({
  name: 'contacts',
  requires: ['audit', 'events', 'apps', 'identity', 'organizations'],
  tables: ['contacts', 'contact_fields', 'contact_tags', 'contact_counts'],
  scopes: [
    { name: 'contacts:read', sensitivity: 'personal', consentText: 'See your contacts and their details' },
    {
      name: 'contacts:write',
      sensitivity: 'personal',
      consentText: 'Create, change and delete your contacts',
    },
  ],
  eventTypes: CONTACT_EVENT_TYPES,
  createService: ({ db, audit, events, config, apps, identity, organizations, extensions }) =>
    createContactsService({
      db,
      audit,
      events,
      maxPerAccount: config.contactsMaxPerAccount,
      checkLimit: (q, accountId, count) =>
        organizations.checkLimit(q, { organizationId: accountId, resource: 'contacts' }, count),
      planLimits: planLimited(extensions),
      appNames: (ids) => apps.namesByIds(ids),
      userNames: async (ids) =>
        new Map([...(await identity.usersByIds(ids))].map(([id, user]) => [id, user.name])),
    }),
  routes: ({ contacts }) => [
    ...contactRoutes({ contacts }),
    ...contactFieldRoutes({ contacts }),
    ...appContactRoutes({ contacts }),
  ],
});
