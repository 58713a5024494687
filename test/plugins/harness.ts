import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createCore } from '../../server/core.ts';
import type { Db } from '../../server/db/index.ts';
import { createLogger } from '../../server/logger.ts';
import { PluginLoadError } from '../../server/plugin-host/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testConfig } from '../helpers/plaza.ts';

/** The fixture plugins, as an absolute path (the happy-path tests use the cwd-relative form). */
export const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/plugins');

/** Log lines of one boot, parsed, for assertions on what the host logged. */
export function captureLog() {
  const lines: Array<Record<string, any>> = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger('info', sink), lines };
}

let shared: Promise<TestDatabase> | undefined;

/** Drops the database that refusals without `inspect` share (call in afterAll). */
export async function dropSharedDatabase(): Promise<void> {
  const db = shared;
  shared = undefined;
  await (await db)?.drop();
}

/**
 * Boots a core the way `startPlaza` does and expects it to refuse. Returns
 * the error and the log lines. With `inspect`, the boot gets a fresh database
 * that `inspect` sees before it is dropped (to check what was, or was not,
 * written); without, refusals share one database, since a refused boot
 * leaves core tables only. startPlaza itself is not used: it never drops a
 * database whose boot failed.
 */
export async function refusal(
  env: Record<string, string>,
  inspect?: (db: Db) => Promise<void>,
): Promise<{ error: PluginLoadError; lines: Array<Record<string, any>> }> {
  if (!inspect) shared ??= createTestDatabase();
  const database = inspect ? await createTestDatabase() : await shared!;
  const { log, lines } = captureLog();
  try {
    const config = testConfig({ PLAZA_PLUGINS_DIR: FIXTURES, ...env });
    const outcome = await createCore(config, { db: database.db, log }).then(
      async (core) => {
        await core.close();
        return undefined;
      },
      (err: unknown) => err,
    );
    if (!(outcome instanceof PluginLoadError))
      throw new Error(
        `expected a PluginLoadError, got ${outcome === undefined ? 'a running Plaza' : outcome}`,
      );
    await inspect?.(database.db);
    return { error: outcome, lines };
  } finally {
    if (inspect) await database.drop();
  }
}

/** Polls `probe` until it returns a truthy value; the bound only fails a stuck test. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T>,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
