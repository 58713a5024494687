/**
 * Client for an account's contacts (the records apps read and change).
 * Same transport as api.ts (cookies, CSRF, problem+json).
 */
import { type Page, request, seg, withQuery } from './api.ts';
import type { Contact, components, QueryOf } from './generated/openapi.ts';

type Schemas = components['schemas'];

export type { Contact } from './generated/openapi.ts';

export type ChangedBy = Schemas['ContactChangedBy'];
export type CustomFieldValue = Contact['customFields'][string];
export type ContactQuery = QueryOf<'/v1/organizations/{orgId}/contacts', 'get'>;
export type ContactSort = NonNullable<ContactQuery['sort']>;
export type ContactInput = Schemas['ContactPatch'];
/** A custom field the account defined (typed; contact writes are checked against it). */
export type ContactFieldDef = Schemas['ContactField'];

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
  fields: (orgId: string) =>
    request<{ data: ContactFieldDef[] }>('GET', `/v1/organizations/${seg(orgId)}/contact-fields`),
};

/** "Ann Owner", "App: Mailer Pro", "Plaza". */
export function changedByLabel(by: ChangedBy): string {
  if (by.type === 'app') return `App: ${by.name ?? by.appId}`;
  if (by.type === 'user') return by.name ?? 'A person';
  return 'Plaza';
}
