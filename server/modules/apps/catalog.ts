import { z } from 'zod';
import type { ScopeCatalog } from '../../scopes.ts';
import type { EventsService } from '../events/service.ts';

/**
 * The core scopes apps can request, and the compliance event types every app
 * that reads personal data must handle. Registered once at boot, before
 * plugins add theirs.
 */
export function registerCoreScopes(scopes: ScopeCatalog): void {
  const core = [
    { name: 'account:read', sensitivity: 'basic', consentText: 'See the name and settings of your account' },
    { name: 'contacts:read', sensitivity: 'personal', consentText: 'See your contacts and their details' },
    {
      name: 'contacts:write',
      sensitivity: 'personal',
      consentText: 'Create, change and delete your contacts',
    },
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
  ] as const;
  for (const s of core) scopes.register({ ...s, owner: 'core' });
}

const Subject = z.object({
  email: z.string().optional(),
  contactId: z.string().optional(),
  userId: z.string().optional(),
});

export function registerAppEventTypes(events: EventsService): void {
  events.registerType({
    type: 'app.data_request',
    description:
      'Privacy: someone asked for the personal data an app holds about them; the app must answer within 30 days.',
    scope: null,
    owner: 'core',
    payload: z.object({ requestId: z.string(), accountId: z.string(), appId: z.string(), subject: Subject }),
  });
  events.registerType({
    type: 'app.data_erasure',
    description:
      'Privacy: personal data of a person (or of a whole uninstalled account) must be erased by the app.',
    scope: null,
    owner: 'core',
    payload: z.object({
      requestId: z.string(),
      accountId: z.string(),
      appId: z.string(),
      subject: Subject.nullable().describe('null: erase everything of the account'),
    }),
  });
}
