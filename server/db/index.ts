import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createNotifier } from './listen.ts';
import type { MigrationSource } from './migrate.ts';
import { seedFromTemplate } from './pglite-template.ts';
import { type PgliteConnection, startPgliteWorker } from './pglite-worker.ts';

export type Row = Record<string, any>;

/**
 * A FROM item that turns synchronous_commit off for the statement's own
 * transaction: its commit does not wait for the WAL flush (about 2 ms on this
 * machine's disk). Only for writes whose loss in a PostgreSQL crash repeats
 * work and loses nothing (a later flushed commit flushes the earlier WAL too):
 * `FROM ${NO_FLUSH} CROSS JOIN LATERAL f(...)`, or `UPDATE t ... FROM ${NO_FLUSH} WHERE ...`.
 */
export const NO_FLUSH = "set_config('synchronous_commit', 'off', true) AS no_flush";

/** Anything SQL can be sent to: the database itself or an open transaction. */
export interface Queryable {
  /**
   * `prepare` names the statement: on PostgreSQL each connection then plans
   * it once and reuses the plan (hot statements whose planning costs more
   * than their run). The same name must always carry the same text.
   */
  query<T = Row>(text: string, params?: unknown[], prepare?: string): Promise<T[]>;
  /** Exactly one row, or throws. */
  one<T = Row>(text: string, params?: unknown[]): Promise<T>;
  /** The first row, or undefined. */
  maybeOne<T = Row>(text: string, params?: unknown[]): Promise<T | undefined>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

export interface Tx extends Queryable {
  /** Runs `fn` once the transaction has committed (never on rollback). */
  afterCommit(fn: () => void | Promise<void>): void;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs `fn` in a transaction; commits when it resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** Raw client for LISTEN and the like; undefined on PGlite. */
  readonly pool?: pg.Pool;
  /** NOTIFY `channel` with `payload` soon, outside any transaction, coalesced (listen.ts); a no-op on PGlite. */
  notify?(channel: string, payload?: string): void;
  close(): Promise<void>;
}

type RawQuery = (text: string, params?: unknown[], prepare?: string) => Promise<Row[]>;

function queryable(raw: RawQuery, exec: (script: string) => Promise<void>): Queryable {
  return {
    query: raw as Queryable['query'],
    exec,
    async one(text, params) {
      const rows = await raw(text, params);
      if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}: ${text.slice(0, 80)}`);
      return rows[0] as any;
    },
    async maybeOne(text, params) {
      return (await raw(text, params))[0] as any;
    },
  };
}

type Hooks = Array<() => void | Promise<void>>;

/** Runs `fn` between BEGIN and COMMIT; returns its result and the after-commit hooks it queued. */
async function runTx<T>(
  raw: RawQuery,
  exec: (s: string) => Promise<void>,
  fn: (tx: Tx) => Promise<T>,
): Promise<{ result: T; hooks: Hooks }> {
  const hooks: Hooks = [];
  await raw('BEGIN');
  try {
    const result = await fn({ ...queryable(raw, exec), afterCommit: (h) => hooks.push(h) });
    await raw('COMMIT');
    return { result, hooks };
  } catch (err) {
    await raw('ROLLBACK').catch(() => {});
    throw err;
  }
}

async function runHooks<T>(done: { result: T; hooks: Hooks }): Promise<T> {
  for (const h of done.hooks) {
    try {
      await h();
    } catch (err) {
      // An after-commit hook is a nudge (wake a dispatcher, queue an email); the committed work stands.
      process.emitWarning(`after-commit hook failed: ${(err as Error).message}`);
    }
  }
  return done.result;
}

// BIGINT (counts, money in minor units) as JS numbers: Plaza never stores values beyond 2^53.
pg.types.setTypeParser(20, (v) => Number(v));

export function connectPostgres(url: string, poolSize = 10): Db {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // An idle client that errors (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  const notifier = createNotifier(pool.options as pg.ClientConfig);
  const raw: RawQuery = async (text, params, name) =>
    (await pool.query({ text, values: params as any[], name })).rows;
  return {
    kind: 'postgres',
    pool,
    ...queryable(raw, async (script) => {
      await pool.query(script);
    }),
    async transaction(fn) {
      const client = await pool.connect();
      const clientRaw: RawQuery = async (text, params, name) =>
        (await client.query({ text, values: params as any[], name })).rows;
      let done: Awaited<ReturnType<typeof runTx<any>>>;
      try {
        done = await runTx(clientRaw, async (script) => void (await client.query(script)), fn);
      } finally {
        client.release();
      }
      return runHooks(done);
    },
    notify: notifier.notify,
    async close() {
      await notifier.close();
      await pool.end();
    },
  };
}

/**
 * Embedded PostgreSQL (PGlite). `dataDir` undefined keeps it in memory. A new
 * data folder is a copy of a template cluster that already has `migrations`
 * applied (pglite-template.ts); runMigrations then finds nothing to do.
 * `started`: PGlite already starting on `dataDir`, an existing cluster
 * (main.ts starts it before this module and its dependencies have loaded).
 */
export async function openPglite(
  dataDir?: string,
  opts: { migrations?: MigrationSource[]; started?: Promise<PgliteConnection> } = {},
): Promise<Db> {
  let copied = false;
  if (dataDir && !opts.started) {
    mkdirSync(path.dirname(dataDir), { recursive: true });
    copied = (await seedFromTemplate(dataDir, opts.migrations)) === 'copied';
  }
  // In a worker thread (pglite-worker.ts): its start and its statements run beside this thread.
  const lite = await (opts.started ?? startPgliteWorker(dataDir));
  // The template's migrations were applied when it was built; this installation got them now.
  if (copied && opts.migrations) await lite.exec('UPDATE plaza_migrations SET applied_at = now()');
  const raw: RawQuery = (text, params) => lite.query(text, params);
  // PGlite is one connection: transactions must not interleave with other queries,
  // so every statement outside a transaction waits behind the running one. A statement
  // sent through `db` from inside a transaction's own callback would wait for itself;
  // it runs inside that transaction instead.
  const inTx = new AsyncLocalStorage<true>();
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    if (inTx.getStore()) return fn();
    const next = chain.then(fn, fn);
    chain = next.catch(() => {});
    return next;
  };
  const serialRaw: RawQuery = (text, params) => serial(() => raw(text, params));
  // PGlite: one connection, in process; `prepare` is ignored (raw drops it).
  const exec = (script: string) => lite.exec(script);
  return {
    kind: 'pglite',
    ...queryable(serialRaw, (script) => serial(() => exec(script))),
    // Hooks run after the connection is free again, outside the transaction's context.
    transaction: async (fn) => runHooks(await serial(() => inTx.run(true, () => runTx(raw, exec, fn)))),
    close: () => serial(() => lite.close()),
  };
}
