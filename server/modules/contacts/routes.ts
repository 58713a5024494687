import { z } from 'zod';
import { type Access, defineRoute, page } from '../../http/route.ts';
import { ContactCreate, ContactListQuery, ContactParams, ContactPatch, ContactSchema } from './schemas.ts';
import type { ContactsService } from './service.ts';

const OrgParams = z.object({ orgId: z.string().max(64) });
const ACCOUNT: Access = { kind: 'org', orgKinds: ['account'] };

/** Contacts for people: members of an account, in the web app or with an API key. */
export function contactRoutes({ contacts }: { contacts: ContactsService }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/contacts',
      summary: 'List or search contacts',
      tag: 'Contacts',
      access: ACCOUNT,
      params: OrgParams,
      query: ContactListQuery,
      response: page(ContactSchema),
      handler: ({ org, query }) => contacts.list(org, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/contacts',
      summary: 'Create a contact',
      tag: 'Contacts',
      access: ACCOUNT,
      status: 201,
      params: OrgParams,
      body: ContactCreate,
      response: ContactSchema,
      idempotent: true,
      handler: ({ org, body }) => contacts.create(org, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/contacts/:contactId',
      summary: 'Get a contact',
      tag: 'Contacts',
      access: ACCOUNT,
      params: OrgParams.extend(ContactParams.shape),
      response: ContactSchema,
      handler: ({ org, params }) => contacts.get(org, params.contactId),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/organizations/:orgId/contacts/:contactId',
      summary: 'Change a contact',
      tag: 'Contacts',
      access: ACCOUNT,
      params: OrgParams.extend(ContactParams.shape),
      body: ContactPatch,
      response: ContactSchema,
      handler: ({ org, params, body }) => contacts.update(org, params.contactId, body),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/organizations/:orgId/contacts/:contactId',
      summary: 'Delete a contact',
      tag: 'Contacts',
      access: ACCOUNT,
      params: OrgParams.extend(ContactParams.shape),
      handler: ({ org, params }) => contacts.delete(org, params.contactId),
    }),
  ];
}

/** Contacts for apps: an installation's token, the account it is installed in. */
export function appContactRoutes({ contacts }: { contacts: ContactsService }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/contacts',
      summary: 'App: list or search contacts',
      tag: 'App API',
      access: { kind: 'app', scope: 'contacts:read' },
      query: ContactListQuery,
      response: page(ContactSchema),
      handler: ({ app, query }) => contacts.list(app, query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/contacts',
      summary: 'App: create a contact',
      tag: 'App API',
      access: { kind: 'app', scope: 'contacts:write' },
      status: 201,
      body: ContactCreate,
      response: ContactSchema,
      idempotent: true,
      handler: ({ app, body }) => contacts.create(app, body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/contacts/:contactId',
      summary: 'App: get a contact',
      tag: 'App API',
      access: { kind: 'app', scope: 'contacts:read' },
      params: ContactParams,
      response: ContactSchema,
      handler: ({ app, params }) => contacts.get(app, params.contactId),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/contacts/:contactId',
      summary: 'App: change a contact',
      tag: 'App API',
      access: { kind: 'app', scope: 'contacts:write' },
      params: ContactParams,
      body: ContactPatch,
      response: ContactSchema,
      handler: ({ app, params, body }) => contacts.update(app, params.contactId, body),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/contacts/:contactId',
      summary: 'App: delete a contact',
      tag: 'App API',
      access: { kind: 'app', scope: 'contacts:write' },
      params: ContactParams,
      handler: ({ app, params }) => contacts.delete(app, params.contactId),
    }),
  ];
}
