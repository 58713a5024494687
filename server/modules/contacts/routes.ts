import { z } from 'zod';
import { type Access, defineRoute, page } from '../../http/route.ts';
import {
  ContactCreate,
  ContactFieldCreate,
  ContactFieldParams,
  ContactFieldPatch,
  ContactFieldSchema,
  ContactListQuery,
  ContactParams,
  ContactPatch,
  ContactSchema,
  ContactTagSchema,
  Tag,
} from './schemas.ts';
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

const FieldList = z.object({ data: z.array(ContactFieldSchema) }).meta({ id: 'ContactFieldList' });
const TagList = z.object({ data: z.array(ContactTagSchema) }).meta({ id: 'ContactTagList' });

/**
 * The account's typed custom fields and ready-made tags. Members read them
 * (the contact form shows an input per field); admins define them.
 */
export function contactFieldRoutes({ contacts }: { contacts: ContactsService }) {
  const ADMIN: Access = { kind: 'org', orgKinds: ['account'], minRole: 'admin' };
  return [
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/contact-fields',
      summary: "List the account's contact custom fields",
      tag: 'Contacts',
      access: ACCOUNT,
      params: OrgParams,
      response: FieldList,
      handler: async ({ org }) => ({ data: await contacts.fields.list(org) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/contact-fields',
      summary: 'Define a contact custom field',
      tag: 'Contacts',
      access: ADMIN,
      status: 201,
      params: OrgParams,
      body: ContactFieldCreate,
      response: ContactFieldSchema,
      handler: ({ org, body }) => contacts.fields.define(org, body),
    }),
    defineRoute({
      method: 'patch',
      path: '/v1/organizations/:orgId/contact-fields/:fieldKey',
      summary: "Change a contact custom field's label or options",
      tag: 'Contacts',
      access: ADMIN,
      params: OrgParams.extend(ContactFieldParams.shape),
      body: ContactFieldPatch,
      response: ContactFieldSchema,
      handler: ({ org, params, body }) => contacts.fields.change(org, params.fieldKey, body),
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/organizations/:orgId/contact-fields/:fieldKey',
      summary: 'Delete a contact custom field (values on contacts stay)',
      tag: 'Contacts',
      access: ADMIN,
      params: OrgParams.extend(ContactFieldParams.shape),
      handler: ({ org, params }) => contacts.fields.remove(org, params.fieldKey),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/contact-tags',
      summary: "List the account's contact tags (ready-made and in use)",
      tag: 'Contacts',
      access: ACCOUNT,
      params: OrgParams,
      response: TagList,
      handler: async ({ org }) => ({ data: await contacts.fields.tags(org) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/contact-tags',
      summary: 'Keep a contact tag ready',
      tag: 'Contacts',
      access: ADMIN,
      status: 201,
      params: OrgParams,
      body: z.object({ name: Tag }).strict(),
      response: z.object({ name: z.string(), added: z.boolean() }),
      handler: async ({ org, body }) => {
        const added = await contacts.fields.addTags(org, [body.name]);
        return { name: body.name, added: added.length > 0 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/contact-fields',
      summary: "App: list the account's contact custom fields",
      tag: 'App API',
      access: { kind: 'app', scope: 'contacts:read' },
      response: FieldList,
      handler: async ({ app }) => ({ data: await contacts.fields.list(app) }),
    }),
  ];
}
