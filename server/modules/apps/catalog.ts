import { z } from 'zod';
import type { PluginEventType } from '../../plugin-api/manifest.ts';

const Subject = z.object({
  email: z.string().optional(),
  contactId: z.string().optional(),
  userId: z.string().optional(),
});

/**
 * The privacy event types every app that reads personal data must handle
 * (the review checks ask for endpoints subscribed to them).
 */
export const APP_EVENT_TYPES: PluginEventType[] = [
  {
    type: 'app.data_request',
    description:
      'Privacy: someone asked for the personal data an app holds about them; the app must answer within 30 days.',
    scope: null,
    payload: z.object({ requestId: z.string(), accountId: z.string(), appId: z.string(), subject: Subject }),
  },
  {
    type: 'app.data_erasure',
    description:
      'Privacy: personal data of a person (or of a whole uninstalled account) must be erased by the app.',
    scope: null,
    payload: z.object({
      requestId: z.string(),
      accountId: z.string(),
      appId: z.string(),
      subject: Subject.nullable().describe('null: erase everything of the account'),
    }),
  },
];
