/**
 * Client for an account's contacts (the records apps read and change).
 * Same transport as api.ts (cookies, CSRF, problem+json).
 */
import { type Page, request, seg, withQuery } from './api.ts';

export type CustomFieldValue = string | number | boolean;

export type ChangedBy =
  | { type: 'user'; userId: string; name: string | null }
  | { type: 'app'; appId: string; installationId: string; name: string | null }
  | { type: 'system' };

export interface Contact {
  id: string;
  accountId: string;
  name: string;
  email: string | null;
  phone: string | null;
  tags: string[];
  customFields: Record<string, CustomFieldValue>;
  createdAt: string;
  updatedAt: string;
  createdBy: ChangedBy;
  updatedBy: ChangedBy;
}

export type ContactSort = 'created' | 'name' | 'updated';

export interface ContactInput {
  name?: string;
  email?: string | null;
  phone?: string | null;
  tags?: string[];
  customFields?: Record<string, CustomFieldValue | null>;
}

const base = (orgId: string) => `/v1/organizations/${seg(orgId)}/contacts`;

export const contactsApi = {
  list: (
    orgId: string,
    query: { q?: string; tags?: string; sort?: ContactSort; cursor?: string | null; limit?: number },
  ) => request<Page<Contact>>('GET', withQuery(base(orgId), query)),
  get: (orgId: string, contactId: string) => request<Contact>('GET', `${base(orgId)}/${seg(contactId)}`),
  create: (orgId: string, input: ContactInput) => request<Contact>('POST', base(orgId), input),
  update: (orgId: string, contactId: string, patch: ContactInput) =>
    request<Contact>('PATCH', `${base(orgId)}/${seg(contactId)}`, patch),
  remove: (orgId: string, contactId: string) => request<void>('DELETE', `${base(orgId)}/${seg(contactId)}`),
};

/** "Ann Owner", "App: Mailer Pro", "Plaza". */
export function changedByLabel(by: ChangedBy): string {
  if (by.type === 'app') return `App: ${by.name ?? by.appId}`;
  if (by.type === 'user') return by.name ?? 'A person';
  return 'Plaza';
}
