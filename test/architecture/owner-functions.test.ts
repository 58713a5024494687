import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../server/db/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/**
 * The SQL functions installations and events give other modules' SQL instead
 * of their tables: the rows they answer, and that PostgreSQL inlines them, so
 * a caller joining them over a batch keeps one set-based statement.
 */
let t: TestDatabase;
let db: Db;

beforeAll(async () => {
  t = await createTestDatabase();
  db = t.db;
  await db.query(
    `INSERT INTO installations (id, account_id, app_id, version_id, granted_scopes, status, created_at, uninstalled_at)
     VALUES ('inst_old', 'acct_1', 'app_a', 'v1', '{contacts:read}', 'uninstalled', '2026-01-01', '2026-02-01'),
            ('inst_new', 'acct_1', 'app_a', 'v1', '{contacts:read,users:read}', 'active', '2026-03-01', NULL),
            ('inst_b', 'acct_1', 'app_b', 'v1', '{users:read}', 'active', '2026-03-01', NULL),
            ('inst_c', 'acct_2', 'app_a', 'v1', '{contacts:read}', 'active', '2026-03-01', NULL)`,
  );
  await db.query(
    `INSERT INTO events (id, organization_id, type, payload, created_at)
     VALUES ('evt_1', 'acct_1', 'contact.created', '{}', '2026-03-01'),
            ('evt_2', 'acct_1', 'contact.deleted', '{}', '2026-03-02'),
            ('evt_3', NULL, 'contact.created', '{}', '2026-03-03')`,
  );
});
afterAll(() => t?.drop());

const ids = (rows: Array<Record<string, unknown>>) => rows.map((r) => String(r.id)).sort();

describe('installations query functions', () => {
  it('installations_active_with_scope: active installations of the account granted the scope', async () => {
    expect(
      ids(await db.query(`SELECT * FROM installations_active_with_scope('acct_1', 'contacts:read')`)),
    ).toEqual(['inst_new']);
    expect(
      ids(await db.query(`SELECT * FROM installations_active_with_scope('acct_1', 'users:read')`)),
    ).toEqual(['inst_b', 'inst_new']);
  });

  it('installations_current: the active installation of the app, else the newest', async () => {
    expect(ids(await db.query(`SELECT * FROM installations_current('app_a', 'acct_1')`))).toEqual([
      'inst_new',
    ]);
    await db.query(
      `UPDATE installations SET status = 'uninstalled', uninstalled_at = '2026-04-01' WHERE id = 'inst_new'`,
    );
    expect(ids(await db.query(`SELECT * FROM installations_current('app_a', 'acct_1')`))).toEqual([
      'inst_new',
    ]);
    expect(await db.query(`SELECT * FROM installations_current('app_z', 'acct_1')`)).toEqual([]);
  });

  it('installations_open_at: the installation open at a moment, with its scopes', async () => {
    const at = (when: string) =>
      db.query(`SELECT * FROM installations_open_at('app_a', 'acct_1', $1)`, [when]);
    expect(await at('2026-01-15')).toEqual([{ id: 'inst_old', granted_scopes: ['contacts:read'] }]);
    expect(await at('2026-02-15')).toEqual([]);
    expect(ids(await at('2026-03-15'))).toEqual(['inst_new']);
  });

  it('is inlined into a batch join (one statement, no function scan)', async () => {
    const plan = await db.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT ev.account_id, i.id FROM unnest($1::text[], $2::text[]) AS ev(account_id, scope)
       JOIN LATERAL installations_active_with_scope(ev.account_id, ev.scope) i ON true`,
      [['acct_1'], ['users:read']],
    );
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    expect(text).toMatch(/installations/);
    expect(text).not.toMatch(/Function Scan on installations_active_with_scope/);
  });
});

describe('events query functions', () => {
  it('events_between: events of the types in [since, until)', async () => {
    const between = (until: string | null, types: string[]) =>
      db.query(`SELECT * FROM events_between('2026-03-01', $1, $2)`, [until, types]);
    expect(ids(await between(null, ['contact.created']))).toEqual(['evt_1', 'evt_3']);
    expect(ids(await between('2026-03-02', ['contact.created', 'contact.deleted']))).toEqual(['evt_1']);
    expect(await between(null, [])).toEqual([]);
  });

  it('is inlined (the caller keeps the index order and limit)', async () => {
    const plan = await db.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN SELECT id FROM events_between(now() - interval '1 day', NULL, '{contact.created}') ORDER BY id LIMIT 10`,
    );
    expect(plan.map((r) => r['QUERY PLAN']).join('\n')).not.toMatch(/Function Scan on events_between/);
  });
});
