import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectPostgres, type Db, openPglite } from '../../server/db/index.ts';
import { runMigrations } from '../../server/db/migrate.ts';
import { coreMigrationSources } from '../../server/modules/index.ts';

/**
 * Each test file gets a database of its own: on the real PostgreSQL server
 * when it answers (always on CI), else an in-memory PGlite.
 */
export const ADMIN_URL = process.env.PLAZA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.PLAZA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let pgAvailable: boolean | undefined;
export async function postgresAnswers(): Promise<boolean> {
  if (pgAvailable !== undefined) return pgAvailable;
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    pgAvailable = true;
  } catch (err) {
    if (process.env.CI) throw new Error(`CI needs PostgreSQL at ${ADMIN_URL}: ${(err as Error).message}`);
    pgAvailable = false;
  } finally {
    await client.end().catch(() => {});
  }
  return pgAvailable;
}

export interface TestDatabase {
  db: Db;
  /** Connection string of the database (undefined on PGlite). */
  url?: string;
  drop(): Promise<void>;
}

/** A fresh, empty database. `migrate` (default true) applies the core migrations. */
export async function createTestDatabase(opts: { migrate?: boolean } = {}): Promise<TestDatabase> {
  if (!(await postgresAnswers())) {
    const db = await openPglite();
    if (opts.migrate !== false) await runMigrations(db, coreMigrationSources());
    return { db, drop: () => db.close() };
  }
  const name = `plaza_test_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const db = connectPostgres(url, 5);
  if (opts.migrate !== false) await runMigrations(db, coreMigrationSources());
  return {
    db,
    url,
    async drop() {
      await db.close();
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/**
 * Runs `fn` and returns what it returned with the SQL it sent through `db`
 * (query, one, maybeOne). Only `fn`'s own calls count: the workers share the
 * handle, so their queries are told apart by async context.
 */
export async function countQueries<T>(db: Db, fn: () => Promise<T>): Promise<{ result: T; sql: string[] }> {
  const sql: string[] = [];
  const own = new AsyncLocalStorage<true>();
  const saved = { query: db.query, one: db.one, maybeOne: db.maybeOne };
  const counted =
    (f: (...a: any[]) => any) =>
    (...a: any[]) => {
      if (own.getStore()) sql.push(String(a[0]));
      return f.apply(db, a);
    };
  Object.assign(db, { query: counted(db.query), one: counted(db.one), maybeOne: counted(db.maybeOne) });
  try {
    return { result: await own.run(true, fn), sql };
  } finally {
    Object.assign(db, saved);
  }
}
