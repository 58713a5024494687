import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAppContext } from '../../server/tenancy.ts';
import { countQueries } from '../helpers/db.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { type InstalledApp, withInstalledApp } from '../helpers/world.ts';

/**
 * An app's `POST /v1/contacts` (no audit, no plan to ask) is one statement:
 * the soft limit's count, the row and its contact.created event. The event
 * carries what the API answered, and a refused create writes neither.
 */
let plaza: PlazaServer;
let crm: InstalledApp;

beforeAll(async () => {
  plaza = await startPlazaServer({ workers: false, env: { PLAZA_CONTACTS_MAX_PER_ACCOUNT: '25' } });
  crm = await withInstalledApp(plaza, {
    name: 'Statement CRM',
    scopes: [{ name: 'contacts:read' }, { name: 'contacts:write' }],
  });
}, 60_000);
afterAll(() => plaza?.close());

const post = (body: Record<string, unknown>) => plaza.http.post('/v1/contacts').set(crm.as).send(body);
const createdEvents = async () =>
  (
    await plaza.core.db.query(
      "SELECT organization_id, payload FROM events WHERE type = 'contact.created' AND organization_id = $1 ORDER BY id",
      [crm.accountId],
    )
  ).map((r) => r.payload);

describe("an app's contact create", () => {
  it('writes the contact and its contact.created event, which carries the answer', async () => {
    const res = await post({
      name: 'Ada Statement',
      email: 'ada@example.com',
      phone: '+1 555 123 4567',
      tags: ['Lead', 'vip'],
      customFields: { source: 'fair', score: 7, active: true },
    }).expect(201);
    const events = await createdEvents();
    const event = events.find((e) => e.contact.id === res.body.id);
    const { createdBy, updatedBy, sample, ...snapshot } = res.body;
    expect(event).toEqual({
      accountId: crm.accountId,
      contact: snapshot,
      source: { type: 'app', appId: crm.app.appId, installationId: crm.installationId },
    });
    expect(snapshot).toMatchObject({ phone: '+15551234567', tags: ['lead', 'vip'] });
    expect(event.contact.createdAt).toBe(event.contact.updatedAt);
    const row = await plaza.core.db.one('SELECT created_at, updated_at FROM contacts WHERE id = $1', [
      res.body.id,
    ]);
    expect(row.created_at.toISOString()).toBe(res.body.createdAt);
    expect(createdBy).toMatchObject({ type: 'app', appId: crm.app.appId, name: 'Statement CRM' });
  });

  it("counts the contact in its own statement: an account's first count makes its 16 slots, and the insert trigger adds nothing", async () => {
    const kept = () =>
      plaza.core.db.one<{ slots: number; kept: number; actual: number }>(
        `SELECT (SELECT count(*)::int FROM contact_counts WHERE organization_id = $1) AS slots,
                (SELECT coalesce(sum(n), 0)::int FROM contact_counts WHERE organization_id = $1) AS kept,
                (SELECT count(*)::int FROM contacts WHERE organization_id = $1) AS actual`,
        [crm.accountId],
      );
    expect(await kept()).toMatchObject({ slots: 16, kept: 1, actual: 1 });
    await post({ name: 'Second' }).expect(201);
    expect(await kept()).toMatchObject({ slots: 16, kept: 2, actual: 2 });
    // The statement's mark ends with its transaction: plain SQL on the same connections is counted by the trigger.
    for (let i = 0; i < 5; i++) {
      const { mark } = await plaza.core.db.one<{ mark: string | null }>(
        "SELECT current_setting('plaza.contacts_counted', true) AS mark",
      );
      expect(mark ?? '').toBe('');
      await plaza.core.db.query(
        `INSERT INTO contacts (id, organization_id, name, created_by, updated_by)
         VALUES ($1, $2, 'Plain SQL', '{"type":"system"}', '{"type":"system"}')`,
        [`ct_plain_${i}`, crm.accountId],
      );
    }
    expect(await kept()).toMatchObject({ slots: 16, kept: 7, actual: 7 });
    await plaza.core.db.query("DELETE FROM contacts WHERE organization_id = $1 AND id LIKE 'ct_plain_%'", [
      crm.accountId,
    ]);
  });

  it('sends one statement and opens no transaction', async () => {
    const ctx = makeAppContext(
      { userId: null, email: null, platformRole: null, ip: null, requestId: null },
      { id: crm.account.id, kind: 'account', name: crm.account.name, parentId: null },
      {
        appId: crm.app.appId,
        installationId: crm.installationId,
        clientId: crm.app.clientId,
        scopes: ['contacts:read', 'contacts:write'],
      },
    );
    // Only this call's transactions count (other timers share the handle).
    const own = new AsyncLocalStorage<true>();
    let transactions = 0;
    const { db } = plaza.core;
    const transaction = db.transaction;
    db.transaction = ((fn: never) => {
      if (own.getStore()) transactions++;
      return transaction.call(db, fn);
    }) as typeof transaction;
    try {
      const { result, sql } = await own.run(true, () =>
        countQueries(db, () => plaza.core.contacts.create(ctx, { name: 'Counted Once' })),
      );
      expect(result.name).toBe('Counted Once');
      expect(sql).toHaveLength(1);
      expect(transactions).toBe(0);
      // With custom fields, their definitions are read first.
      const typed = await countQueries(db, () =>
        plaza.core.contacts.create(ctx, { name: 'Typed', customFields: { score: 1 } }),
      );
      expect(typed.sql).toHaveLength(2);
    } finally {
      db.transaction = transaction;
    }
  });

  it('keeps working after a migration adds a column (the named statement spells out its columns)', async () => {
    for (let i = 0; i < 6; i++) await post({ name: `Before ${i}` }).expect(201);
    await plaza.core.db.query('ALTER TABLE contacts ADD COLUMN later_column text');
    try {
      for (let i = 0; i < 6; i++) await post({ name: `After ${i}` }).expect(201);
    } finally {
      await plaza.core.db.query('ALTER TABLE contacts DROP COLUMN later_column');
    }
  });

  it('checks custom fields against their definitions', async () => {
    const org = await plaza.core.organizations.resolveContext(crm.owner.actor, crm.accountId);
    await plaza.core.contacts.fields.define(org, { key: 'visits', label: 'Visits', type: 'number' });
    const before = (await createdEvents()).length;
    const bad = await post({ name: 'Wrong Type', customFields: { visits: 'many' } }).expect(400);
    expect(bad.body.fields.map((f: { field: string }) => f.field)).toEqual(['body.customFields.visits']);
    expect(await createdEvents()).toHaveLength(before);
    await post({ name: 'Right Type', customFields: { visits: 3 } }).expect(201);
  });

  it('refuses a taken email and the soft limit with 409, writing no contact and no event', async () => {
    await post({ name: 'First', email: 'taken@example.com' }).expect(201);
    const before = (await createdEvents()).length;
    const dup = await post({ name: 'Second', email: 'TAKEN@example.com' }).expect(409);
    expect(dup.body.fields?.[0]?.field ?? dup.body.detail).toMatch(/email/);
    expect(await createdEvents()).toHaveLength(before);

    const { n } = await plaza.core.db.one<{ n: number }>(
      'SELECT count(*)::int AS n FROM contacts WHERE organization_id = $1',
      [crm.accountId],
    );
    await plaza.core.db.query(
      `INSERT INTO contacts (id, organization_id, name, created_by, updated_by)
       SELECT 'ct_fill_' || i, $1, 'Fill ' || i, '{"type":"system"}', '{"type":"system"}'
       FROM generate_series(1, $2::int) i`,
      [crm.accountId, 25 - n],
    );
    const full = await post({ name: 'One too many' }).expect(409);
    expect(full.body.detail).toContain('limit of 25 contacts');
    expect(await createdEvents()).toHaveLength(before);
    const after = await plaza.core.db.one<{ n: number }>(
      'SELECT count(*)::int AS n FROM contacts WHERE organization_id = $1',
      [crm.accountId],
    );
    expect(after.n).toBe(25);
  });

  it("keeps the account's count (contact_counts) equal to its contacts through bulk writes, deletes and concurrent creates", async () => {
    const counted = async () => {
      const row = await plaza.core.db.one<{ kept: number; actual: number }>(
        `SELECT (SELECT coalesce(sum(n), 0)::int FROM contact_counts WHERE organization_id = $1) AS kept,
                (SELECT count(*)::int FROM contacts WHERE organization_id = $1) AS actual`,
        [crm.accountId],
      );
      expect(row.kept).toBe(row.actual);
      return row.actual;
    };
    expect(await counted()).toBe(25);
    // One statement deleting many rows, then one contact through the API.
    await plaza.core.db.query("DELETE FROM contacts WHERE organization_id = $1 AND id LIKE 'ct_fill_%'", [
      crm.accountId,
    ]);
    const room = 25 - (await counted());
    expect(room).toBeGreaterThan(3);
    const [gone] = await plaza.core.db.query('SELECT id FROM contacts WHERE organization_id = $1 LIMIT 1', [
      crm.accountId,
    ]);
    await plaza.http.delete(`/v1/contacts/${gone.id}`).set(crm.as).expect(204);
    expect(await counted()).toBe(25 - room - 1);
    // Creates racing for the room left: the limit is soft without a plan, the count stays exact.
    const results = await Promise.all(
      Array.from({ length: room + 6 }, (_, i) => post({ name: `Racer ${i}` }).then((r) => r.status)),
    );
    expect(results.filter((s) => s === 201).length).toBeGreaterThanOrEqual(room + 1);
    expect(results.every((s) => s === 201 || s === 409)).toBe(true);
    expect(await counted()).toBeGreaterThanOrEqual(25);
    // Full again: the next create is refused by the kept count.
    await post({ name: 'Past the limit' }).expect(409);
  });
  it("does not wait for other transactions' uncommitted contacts in the same account", async (ctx) => {
    // Other connections only on PostgreSQL (PGlite has one).
    const url = plaza.database.url;
    if (!url) return ctx.skip();
    await plaza.core.db.query('DELETE FROM contacts WHERE organization_id = $1', [crm.accountId]);
    // Counted before (an account's first count, creating its slots, is the one that may wait).
    await post({ name: 'Counted' }).expect(201);
    // Four transactions each hold a contact of the account, uncommitted (a row lock on their count).
    const held = Array.from({ length: 4 }, () => new pg.Client({ connectionString: url }));
    const waitingOnLock = async (done: () => boolean) => {
      while (!done()) {
        const { n } = await plaza.core.db.one<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        );
        if (n > 0) return 'waiting for a lock';
        await new Promise((r) => setTimeout(r, 5));
      }
      return 'answered';
    };
    try {
      for (const [i, client] of held.entries()) {
        await client.connect();
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO contacts (id, organization_id, name, created_by, updated_by)
           VALUES ($1, $2, 'Held', '{"type":"system"}', '{"type":"system"}')`,
          [`ct_held_${i}`, crm.accountId],
        );
      }
      // Each create answers without waiting for them (with a random slot of 16, most of these
      // twenty would meet one of the four).
      for (let i = 0; i < 20; i++) {
        let answered = false;
        const create = Promise.resolve(post({ name: `Beside ${i}` })).finally(() => {
          answered = true;
        });
        expect(await Promise.race([create.then((r) => r.status), waitingOnLock(() => answered)])).toBe(201);
      }
    } finally {
      await Promise.all(
        held.map((c) =>
          c.query('ROLLBACK').then(
            () => c.end(),
            () => c.end(),
          ),
        ),
      );
    }
    const row = await plaza.core.db.one<{ kept: number; actual: number }>(
      `SELECT (SELECT coalesce(sum(n), 0)::int FROM contact_counts WHERE organization_id = $1) AS kept,
              (SELECT count(*)::int FROM contacts WHERE organization_id = $1) AS actual`,
      [crm.accountId],
    );
    expect(row.kept).toBe(row.actual);
  });
});

describe("an app's contact create under a plan (organization.limits)", () => {
  it('asks the plan in a transaction and is refused past its limit', async () => {
    const tiered = await startPlazaServer({
      workers: false,
      env: { PLAZA_PLUGINS: 'tiers', PLAZA_PLUGINS_DIR: 'test/fixtures/plugins' },
    });
    try {
      const app = await withInstalledApp(tiered, {
        name: 'Planned CRM',
        scopes: [{ name: 'contacts:read' }, { name: 'contacts:write' }],
      });
      // The tiers fixture's free plan keeps 1,000 contacts.
      await tiered.core.db.query(
        `INSERT INTO contacts (id, organization_id, name, created_by, updated_by)
         SELECT 'ct_plan_' || i, $1, 'Plan ' || i, '{"type":"system"}', '{"type":"system"}'
         FROM generate_series(1, 999) i`,
        [app.accountId],
      );
      const post = (name: string) => tiered.http.post('/v1/contacts').set(app.as).send({ name });
      await post('The thousandth').expect(201);
      const refused = await post('One past the plan').expect(402);
      expect(refused.body).toMatchObject({ code: 'PLAZA_ENTITLEMENT', feature: 'contacts', limit: 1000 });
    } finally {
      await tiered.close();
    }
  }, 60_000);
});
