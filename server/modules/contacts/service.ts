import { z } from 'zod';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { conflict, forbidden, notFound, PlazaError } from '../../errors.ts';
import { decodeCursor, encodeCursor, type Page } from '../../http/pagination.ts';
import { newId } from '../../ids.ts';
import { type AccountContext, isAppContext, type OrgContext } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import { createContactFields } from './fields.ts';
import {
  type ChangedBy,
  type ContactCreateInput,
  type ContactListInput,
  type ContactPatchInput,
  ContactSchema,
  LIMITS,
  normalizePhone,
} from './schemas.ts';

/**
 * Contacts: the customer records of an account, which people manage in the
 * web app and apps read and change with `contacts:read` / `contacts:write`.
 * Every change emits `contact.created|updated|deleted` through the outbox in
 * the transaction of the change; changes made by people are also audited.
 * Callers are either a member of the account (OrgContext) or an app installed
 * in it (AppContext); both name the account, and nothing else is reachable.
 */
export type Contact = z.output<typeof ContactSchema>;
type ChangedByValue = z.output<typeof ChangedBy>;

const Snapshot = ContactSchema.omit({ createdBy: true, updatedBy: true, sample: true });
const Source = z.union([
  z.object({ type: z.literal('user'), userId: z.string() }),
  z.object({ type: z.literal('app'), appId: z.string(), installationId: z.string() }),
]);

/** The payloads of the contact events (webhooks carry them to apps with `contacts:read`). */
export const ContactEventPayloads = {
  'contact.created': z.object({ accountId: z.string(), contact: Snapshot, source: Source }),
  'contact.updated': z.object({
    accountId: z.string(),
    contact: Snapshot,
    changed: z.array(z.enum(['name', 'email', 'phone', 'tags', 'customFields'])),
    source: Source,
  }),
  'contact.deleted': z.object({ accountId: z.string(), contactId: z.string(), source: Source }),
} as const;

const EVENT_DESCRIPTIONS: Record<keyof typeof ContactEventPayloads, string> = {
  'contact.created': 'A contact was created in an account (by a person or an app).',
  'contact.updated': 'A contact was changed; `changed` names the fields that changed.',
  'contact.deleted': 'A contact was deleted.',
};

/** The contact event types, delivered to apps with `contacts:read`. */
export const CONTACT_EVENT_TYPES = Object.entries(ContactEventPayloads).map(([type, payload]) => ({
  type,
  description: EVENT_DESCRIPTIONS[type as keyof typeof ContactEventPayloads],
  scope: 'contacts:read',
  payload,
}));

type Row = Record<string, any>;

/** An account's contacts: the sum of its slots in contact_counts (kept by triggers, migration 003). */
const COUNT_SQL = 'SELECT coalesce(sum(n), 0)::int AS n FROM contact_counts WHERE organization_id = $1';

const isUniqueViolation = (err: unknown) => (err as { code?: string })?.code === '23505';

export type ContactsService = ReturnType<typeof createContactsService>;

export function createContactsService(deps: {
  db: Db;
  audit: AuditService;
  events: EventsService;
  /** Soft limit of contacts per account. */
  maxPerAccount: number;
  /** Display names of apps by id (the contacts page shows which app changed a contact). */
  appNames: (appIds: string[]) => Promise<Map<string, string>>;
  /** Display names of people by id. */
  userNames: (userIds: string[]) => Promise<Map<string, string>>;
  /** The plan's say (organization.limits): called in the creating transaction with the account's count. */
  checkLimit?: (q: Queryable, accountId: string, count: (q: Queryable) => Promise<number>) => Promise<void>;
  /** Whether a plan has a say (something extends organization.limits): creates then lock and ask it. */
  planLimits?: () => boolean;
}) {
  const { db, audit, events, maxPerAccount, checkLimit } = deps;
  const fields = createContactFields({ db, audit });

  /**
   * Before a contact is created, in its transaction: the plan's limit
   * (organization.limits, counted under its lock, so it is exact), then the
   * installation's soft limit (without a plan, concurrent creates may pass it by a few).
   */
  async function roomForOne(tx: Tx, orgId: string): Promise<void> {
    let n = -1;
    const count = async (q: Queryable) => {
      n = (await q.one<{ n: number }>(COUNT_SQL, [orgId])).n;
      return n;
    };
    await checkLimit?.(tx, orgId, count);
    if (n < 0) await count(tx);
    if (n >= maxPerAccount) throw conflict(`this account has reached its limit of ${maxPerAccount} contacts`);
  }

  function assertAccount(ctx: AccountContext) {
    if (ctx.org.kind !== 'account') throw forbidden('only accounts have contacts');
  }

  /** Who is changing: stored on the row and sent in events. */
  function sourceOf(ctx: AccountContext): z.output<typeof Source> {
    if (isAppContext(ctx))
      return { type: 'app', appId: ctx.app.appId, installationId: ctx.app.installationId };
    if (!ctx.actor.userId) throw forbidden('contacts are changed by people or apps');
    return { type: 'user', userId: ctx.actor.userId };
  }

  const snapshot = (r: Row) => ({
    id: r.id as string,
    accountId: r.organization_id as string,
    name: r.name as string,
    email: (r.email as string | null) ?? null,
    phone: (r.phone as string | null) ?? null,
    tags: r.tags as string[],
    customFields: r.custom_fields as Record<string, string | number | boolean>,
    createdAt: (r.created_at as Date).toISOString(),
    updatedAt: (r.updated_at as Date).toISOString(),
  });

  // Names of who changed contacts, for a minute: a page of contacts usually needs none from the database.
  const NAME_TTL_MS = 60_000;
  const names = new Map<string, { name: string | null; until: number }>();
  async function namesOf(
    kind: 'app' | 'user',
    ids: string[],
    lookup: (ids: string[]) => Promise<Map<string, string>>,
  ): Promise<Map<string, string | null>> {
    const now = Date.now();
    const out = new Map<string, string | null>();
    const missing: string[] = [];
    for (const id of ids) {
      const hit = names.get(`${kind}:${id}`);
      if (hit && hit.until > now) out.set(id, hit.name);
      else missing.push(id);
    }
    if (missing.length) {
      const found = await lookup(missing);
      if (names.size > 10_000) names.clear();
      for (const id of missing) {
        const name = found.get(id) ?? null;
        names.set(`${kind}:${id}`, { name, until: now + NAME_TTL_MS });
        out.set(id, name);
      }
    }
    return out;
  }

  /** Rows -> contacts with the names of who changed them (one lookup per kind for a page, cached). */
  async function toContacts(rows: Row[]): Promise<Contact[]> {
    const sources = rows.flatMap((r) => [r.created_by, r.updated_by]) as Array<Record<string, string>>;
    const appIds = [...new Set(sources.filter((s) => s.type === 'app').map((s) => s.appId))];
    const userIds = [...new Set(sources.filter((s) => s.type === 'user').map((s) => s.userId))];
    const [apps, users] = await Promise.all([
      namesOf('app', appIds, deps.appNames),
      namesOf('user', userIds, deps.userNames),
    ]);
    const who = (s: Record<string, string>): ChangedByValue =>
      s.type === 'app'
        ? { type: 'app', appId: s.appId, installationId: s.installationId, name: apps.get(s.appId) ?? null }
        : s.type === 'user'
          ? { type: 'user', userId: s.userId, name: users.get(s.userId) ?? null }
          : { type: 'system' };
    return rows.map((r) => ({
      ...snapshot(r),
      createdBy: who(r.created_by),
      updatedBy: who(r.updated_by),
      sample: r.sample !== null && r.sample !== undefined,
    }));
  }

  function checkCustomFields(fields: Record<string, unknown>) {
    const keys = Object.keys(fields).length;
    if (keys > LIMITS.customFieldKeys)
      throw new PlazaError('PLAZA_VALIDATION', `body.customFields: at most ${LIMITS.customFieldKeys} keys`, {
        fields: [
          { field: 'body.customFields', reason: `at most ${LIMITS.customFieldKeys} keys (got ${keys})` },
        ],
      });
    const bytes = Buffer.byteLength(JSON.stringify(fields));
    if (bytes > LIMITS.customFieldBytes)
      throw new PlazaError(
        'PLAZA_VALIDATION',
        `body.customFields: at most ${LIMITS.customFieldBytes} bytes of JSON`,
        {
          fields: [
            {
              field: 'body.customFields',
              reason: `at most ${LIMITS.customFieldBytes} bytes of JSON (got ${bytes})`,
            },
          ],
        },
      );
  }

  function checkIdentifiable(c: { name: string; email: string | null; phone: string | null }) {
    if (!c.name && !c.email && !c.phone)
      throw new PlazaError('PLAZA_VALIDATION', 'a contact needs a name, an email or a phone number', {
        fields: [
          { field: 'body.name', reason: 'a contact needs a name, an email or a phone number' },
          { field: 'body.email', reason: 'a contact needs a name, an email or a phone number' },
          { field: 'body.phone', reason: 'a contact needs a name, an email or a phone number' },
        ],
      });
  }

  /** 409 naming the field and the contact that already has this email. */
  async function emailTaken(accountId: string, email: string): Promise<PlazaError> {
    const other = await db.maybeOne<{ id: string }>(
      'SELECT id FROM contacts WHERE organization_id = $1 AND lower(email) = lower($2)',
      [accountId, email],
    );
    return new PlazaError('PLAZA_CONFLICT', `another contact of this account has the email ${email}`, {
      fields: [{ field: 'body.email', reason: 'another contact has this email' }],
      extra: other ? { contactId: other.id } : {},
    });
  }

  async function recordAudit(
    tx: Tx,
    ctx: AccountContext,
    action: string,
    contactId: string,
    data: Record<string, unknown>,
  ) {
    // People's changes go to the account's audit log; an app's changes show on the contact and in events.
    if (isAppContext(ctx)) return;
    await audit.record(tx, {
      organizationId: ctx.org.id,
      actor: ctx.actor,
      action,
      targetType: 'contact',
      targetId: contactId,
      data,
    });
  }

  /**
   * A create as one autocommitted statement (about a fifth of the round trips
   * of BEGIN, count, insert, outbox insert, COMMIT): the soft limit's count,
   * the row, its count (a free slot of the account's, as the trigger would
   * pick one; the statement marks its transaction counted, so the insert
   * trigger skips it: migration 005) and its contact.created event in the
   * outbox. The event's timestamps are the row's own, written by the
   * statement; the custom fields' definitions are read before (a transaction
   * would read them unlocked too). The statement answers only the row's
   * timestamp: the rest of the row is what it was given.
   */
  async function createInOneStatement(
    ctx: AccountContext,
    values: {
      name: string;
      email: string | null;
      phone: string | null;
      tags: string[];
      customFields: Record<string, string | number | boolean>;
    },
    source: z.output<typeof Source>,
  ): Promise<Row> {
    await fields.check(ctx.org.id, values.customFields);
    const id = newId('ct');
    // Replaced by the statement with the row's created_at (to_char gives toISOString's form).
    const at = new Date(0).toISOString();
    const event = events.prepare(ctx.org.id, 'contact.created', {
      accountId: ctx.org.id,
      contact: { id, accountId: ctx.org.id, ...values, createdAt: at, updatedAt: at },
      source,
    });
    const [created] = await db.query<{ at: string }>(
      `WITH c AS (
         INSERT INTO contacts (id, organization_id, name, email, phone, tags, custom_fields, created_by, updated_by)
         SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::text[], $7::jsonb, $8::jsonb, $8::jsonb
         WHERE (SELECT coalesce(sum(n), 0) FROM contact_counts WHERE organization_id = $2) < $9::int
           AND set_config('plaza.contacts_counted', 'on', true) = 'on'
         RETURNING created_at),
       p AS (
         SELECT coalesce((SELECT slot FROM contact_counts WHERE organization_id = $2 LIMIT 1 FOR UPDATE SKIP LOCKED),
                         floor(random() * 16)::smallint) AS slot
         FROM c),
       n AS (
         INSERT INTO contact_counts AS k (organization_id, slot, n)
         SELECT $2::text, s::smallint, (s = p.slot)::int FROM p, generate_series(0, 15) s
         WHERE s = p.slot OR NOT EXISTS (SELECT FROM contact_counts WHERE organization_id = $2)
         ON CONFLICT (organization_id, slot) DO UPDATE SET n = k.n + EXCLUDED.n),
       t AS (SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at FROM c),
       e AS (${event.sql(10, 't', (p) => `jsonb_set(jsonb_set(${p}, '{contact,createdAt}', to_jsonb(t.at)), '{contact,updatedAt}', to_jsonb(t.at))`)})
       SELECT at FROM t`,
      [
        id,
        ctx.org.id,
        values.name,
        values.email,
        values.phone,
        values.tags,
        JSON.stringify(values.customFields),
        JSON.stringify(source),
        maxPerAccount,
        ...event.params,
      ],
      // Named: planned once per connection.
      'contacts.create_app',
    );
    if (!created) throw conflict(`this account has reached its limit of ${maxPerAccount} contacts`);
    event.committed();
    const createdAt = new Date(created.at);
    return {
      id,
      organization_id: ctx.org.id,
      name: values.name,
      email: values.email,
      phone: values.phone,
      tags: values.tags,
      custom_fields: values.customFields,
      created_by: source,
      updated_by: source,
      created_at: createdAt,
      updated_at: createdAt,
      sample: null,
    };
  }

  async function load(ctx: AccountContext, contactId: string): Promise<Row> {
    const row = await db.maybeOne('SELECT * FROM contacts WHERE organization_id = $1 AND id = $2', [
      ctx.org.id,
      contactId,
    ]);
    if (!row) throw notFound('contact');
    return row;
  }

  return {
    async list(ctx: AccountContext, input: ContactListInput): Promise<Page<Contact>> {
      assertAccount(ctx);
      const args: unknown[] = [ctx.org.id];
      const where = ['organization_id = $1'];
      if (input.q) {
        const text = input.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`);
        args.push(`%${text}%`);
        let cond = `search_text LIKE $${args.length}`;
        // A phone number typed with spaces or dashes still finds the stored +15551234567.
        const digits = /^\+?[\d\s().\-/]+$/.test(input.q) ? input.q.replace(/[^\d+]/g, '') : '';
        if (digits.replace('+', '').length >= 3) {
          args.push(`%${digits}%`);
          cond += ` OR phone LIKE $${args.length}`;
        }
        where.push(`(${cond})`);
      }
      if (input.tags?.length) {
        args.push(input.tags);
        where.push(`tags @> $${args.length}::text[]`);
      }
      const { order, key, after } = sortOf(input.sort);
      const cursor = decodeCursor(input.cursor);
      if (cursor) {
        const values = cursor.slice(1);
        if (
          cursor[0] !== input.sort ||
          values.length !== after.length ||
          !values.every((v) => typeof v === 'string')
        )
          throw new PlazaError('PLAZA_VALIDATION', 'query.cursor: belongs to another sort order', {
            fields: [{ field: 'query.cursor', reason: 'belongs to another sort order' }],
          });
        args.push(...values);
        where.push(after(...values.map((_, i) => args.length - values.length + 1 + i)));
      }
      args.push(input.limit + 1);
      const rows = await db.query(
        `SELECT *, lower(name) AS name_key, updated_at::text AS updated_key FROM contacts
         WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT $${args.length}`,
        args,
      );
      const more = rows.length > input.limit;
      const pageRows = more ? rows.slice(0, input.limit) : rows;
      const last = pageRows[pageRows.length - 1];
      return {
        data: await toContacts(pageRows),
        nextCursor: more ? encodeCursor([input.sort, ...key(last)]) : null,
      };
    },

    async get(ctx: AccountContext, contactId: string): Promise<Contact> {
      assertAccount(ctx);
      return (await toContacts([await load(ctx, contactId)]))[0];
    },

    async create(ctx: AccountContext, input: ContactCreateInput): Promise<Contact> {
      assertAccount(ctx);
      const source = sourceOf(ctx);
      const values = {
        name: input.name ?? '',
        email: input.email ?? null,
        phone: input.phone ?? null,
        tags: input.tags ?? [],
        customFields: input.customFields ?? {},
      };
      checkIdentifiable(values);
      checkCustomFields(values.customFields);
      let row: Row;
      try {
        // An app's create with no plan to ask (no audit, no lock): one statement.
        if (isAppContext(ctx) && !deps.planLimits?.())
          return (await toContacts([await createInOneStatement(ctx, values, source)]))[0];
        row = await db.transaction(async (tx) => {
          await fields.check(ctx.org.id, values.customFields, tx);
          await roomForOne(tx, ctx.org.id);
          const created = await tx.one(
            `INSERT INTO contacts (id, organization_id, name, email, phone, tags, custom_fields, created_by, updated_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING *`,
            [
              newId('ct'),
              ctx.org.id,
              values.name,
              values.email,
              values.phone,
              values.tags,
              JSON.stringify(values.customFields),
              JSON.stringify(source),
            ],
          );
          await recordAudit(tx, ctx, 'contact.created', created.id, { name: values.name });
          await events.emit(tx, ctx.org.id, 'contact.created', {
            accountId: ctx.org.id,
            contact: snapshot(created),
            source,
          });
          return created;
        });
      } catch (err) {
        if (isUniqueViolation(err) && values.email) throw await emailTaken(ctx.org.id, values.email);
        throw err;
      }
      return (await toContacts([row]))[0];
    },

    /** Changes the given fields only; custom fields merge (null removes a key). */
    async update(ctx: AccountContext, contactId: string, patch: ContactPatchInput): Promise<Contact> {
      assertAccount(ctx);
      const source = sourceOf(ctx);
      let row: Row;
      try {
        row = await db.transaction(async (tx) => {
          const current = await tx.maybeOne(
            'SELECT * FROM contacts WHERE organization_id = $1 AND id = $2 FOR UPDATE',
            [ctx.org.id, contactId],
          );
          if (!current) throw notFound('contact');
          const next = {
            name: patch.name ?? current.name,
            email: patch.email === undefined ? current.email : patch.email,
            phone: patch.phone === undefined ? current.phone : patch.phone,
            tags: patch.tags ?? current.tags,
            customFields: { ...current.custom_fields } as Record<string, unknown>,
          };
          for (const [k, v] of Object.entries(patch.customFields ?? {})) {
            if (v === null) delete next.customFields[k];
            else next.customFields[k] = v;
          }
          // Only the values this change writes: a field defined later does not block unrelated edits.
          await fields.check(
            ctx.org.id,
            Object.fromEntries(Object.entries(patch.customFields ?? {}).filter(([, v]) => v !== null)),
            tx,
          );
          checkIdentifiable(next);
          checkCustomFields(next.customFields);
          const changed = (
            [
              ['name', current.name !== next.name],
              ['email', current.email !== next.email],
              ['phone', current.phone !== next.phone],
              ['tags', JSON.stringify(current.tags) !== JSON.stringify(next.tags)],
              [
                'customFields',
                JSON.stringify(sortKeys(current.custom_fields)) !==
                  JSON.stringify(sortKeys(next.customFields)),
              ],
            ] as const
          )
            .filter(([, differs]) => differs)
            .map(([field]) => field);
          // Nothing changes: no write, no event (an app syncing the same data twice makes no noise).
          if (changed.length === 0) return current;
          const updated = await tx.one(
            `UPDATE contacts SET name = $3, email = $4, phone = $5, tags = $6, custom_fields = $7,
               updated_by = $8, updated_at = now()
             WHERE organization_id = $1 AND id = $2 RETURNING *`,
            [
              ctx.org.id,
              contactId,
              next.name,
              next.email,
              next.phone,
              next.tags,
              JSON.stringify(next.customFields),
              JSON.stringify(source),
            ],
          );
          await recordAudit(tx, ctx, 'contact.updated', contactId, { changed });
          await events.emit(tx, ctx.org.id, 'contact.updated', {
            accountId: ctx.org.id,
            contact: snapshot(updated),
            changed,
            source,
          });
          return updated;
        });
      } catch (err) {
        if (isUniqueViolation(err) && patch.email) throw await emailTaken(ctx.org.id, patch.email);
        throw err;
      }
      return (await toContacts([row]))[0];
    },

    async delete(ctx: AccountContext, contactId: string): Promise<void> {
      assertAccount(ctx);
      const source = sourceOf(ctx);
      await db.transaction(async (tx) => {
        const row = await tx.maybeOne(
          'DELETE FROM contacts WHERE organization_id = $1 AND id = $2 RETURNING id, name',
          [ctx.org.id, contactId],
        );
        if (!row) throw notFound('contact');
        await recordAudit(tx, ctx, 'contact.deleted', contactId, { name: row.name });
        await events.emit(tx, ctx.org.id, 'contact.deleted', { accountId: ctx.org.id, contactId, source });
      });
    },

    /** How many contacts an account has (the page header; the soft limit). */
    async count(ctx: AccountContext): Promise<number> {
      assertAccount(ctx);
      const { n } = await db.one<{ n: number }>(COUNT_SQL, [ctx.org.id]);
      return n;
    },

    normalizePhone,

    /** Custom-field definitions and ready-made tags (fields.ts). */
    fields,

    /**
     * Adds an example contact marked `sample` (e.g. `verticals:dental-clinic`)
     * in the caller's transaction, so a template's sample data comes and goes
     * with the rest of it. A contact with the same email already there is left
     * alone (returns null): sample data never overwrites real data.
     */
    async createSample(
      tx: Tx,
      ctx: OrgContext,
      input: ContactCreateInput,
      sample: string,
    ): Promise<{ id: string } | null> {
      assertAccount(ctx);
      const source = sourceOf(ctx);
      const values = {
        name: input.name ?? '',
        email: input.email ?? null,
        phone: input.phone ?? null,
        tags: input.tags ?? [],
        customFields: input.customFields ?? {},
      };
      checkIdentifiable(values);
      checkCustomFields(values.customFields);
      await fields.check(ctx.org.id, values.customFields, tx);
      if (values.email) {
        const taken = await tx.maybeOne(
          'SELECT 1 FROM contacts WHERE organization_id = $1 AND lower(email) = lower($2)',
          [ctx.org.id, values.email],
        );
        if (taken) return null;
      }
      await roomForOne(tx, ctx.org.id);
      const created = await tx.one(
        `INSERT INTO contacts (id, organization_id, name, email, phone, tags, custom_fields, created_by, updated_by, sample)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9) RETURNING *`,
        [
          newId('ct'),
          ctx.org.id,
          values.name,
          values.email,
          values.phone,
          values.tags,
          JSON.stringify(values.customFields),
          JSON.stringify(source),
          sample,
        ],
      );
      await events.emit(tx, ctx.org.id, 'contact.created', {
        accountId: ctx.org.id,
        contact: snapshot(created),
        source,
      });
      return { id: created.id };
    },

    /** Deletes the account's sample contacts of `sample` (each with contact.deleted); returns how many. */
    async deleteSamples(tx: Tx, ctx: OrgContext, sample: string): Promise<number> {
      assertAccount(ctx);
      const source = sourceOf(ctx);
      const rows = await tx.query<{ id: string }>(
        'DELETE FROM contacts WHERE organization_id = $1 AND sample = $2 RETURNING id',
        [ctx.org.id, sample],
      );
      for (const r of rows)
        await events.emit(tx, ctx.org.id, 'contact.deleted', {
          accountId: ctx.org.id,
          contactId: r.id,
          source,
        });
      if (rows.length)
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'contact.samples_deleted',
          targetType: 'contact',
          data: { sample, count: rows.length },
        });
      return rows.length;
    },

    /** How many sample contacts of `sample` the account has. */
    async countSamples(ctx: OrgContext, sample: string, q: Queryable = db): Promise<number> {
      assertAccount(ctx);
      const { n } = await q.one<{ n: number }>(
        'SELECT count(*)::int AS n FROM contacts WHERE organization_id = $1 AND sample = $2',
        [ctx.org.id, sample],
      );
      return n;
    },
  };
}

/** ORDER BY, cursor key and "after the cursor" condition of each sort order. */
function sortOf(sort: ContactListInput['sort']): {
  order: string;
  key: (r: Row) => string[];
  /** Takes the parameter numbers of the key's values. */
  after: (...params: number[]) => string;
} {
  switch (sort) {
    case 'name':
      return {
        order: 'lower(name), id',
        key: (r: Row) => [r.name_key, r.id],
        after: (a: number, b: number) => `(lower(name), id) > ($${a}::text, $${b}::text)`,
      };
    case 'updated':
      return {
        order: 'updated_at DESC, id DESC',
        // The timestamp as PostgreSQL text keeps its microseconds; a JS Date would round them.
        key: (r: Row) => [r.updated_key, r.id],
        after: (a: number, b: number) => `(updated_at, id) < ($${a}::timestamptz, $${b}::text)`,
      };
    default:
      return {
        order: 'id DESC',
        key: (r: Row) => [r.id],
        after: (a: number) => `id < $${a}::text`,
      };
  }
}

function sortKeys(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : 1)));
}
