/**
 * The three ways a test starts Plaza:
 * - `startPlaza`: core and Koa app in this process; `http` calls the app without a port.
 * - `startPlazaServer`: the same on a real port, PLAZA_PUBLIC_URL pointing at it, for
 *   relying parties (openid-client), browsers and the SDK, which need a URL.
 * - `spawnPlaza`: `server/start.js` (`npm start`'s entry, which runs `server/main.ts`) as a separate OS process, for boot and crash tests.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import supertest from 'supertest';
import { createApp } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { type Core, createCore } from '../../server/core.ts';
import type { ModuleOptions } from '../../server/modules/module.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';

/** Configuration for a test core: its own data folder, quiet logs, no demo seed, fast polling. */
export function testConfig(env: Record<string, string> = {}) {
  return loadConfig({
    PLAZA_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'plaza-test-')),
    PLAZA_SECRET: 'test-secret-test-secret-test-secret-0123',
    LOG_LEVEL: process.env.PLAZA_TEST_LOG_LEVEL ?? 'silent',
    PLAZA_SEED_DEMO: 'false',
    PLAZA_JOBS_POLL_MS: '50',
    // Tests call from one address at machine speed; test/http/rate-limit.test.ts checks the limits.
    PLAZA_RATE_LIMIT_PER_MINUTE: '1000000',
    PLAZA_RATE_LIMIT_ANONYMOUS_PER_MINUTE: '1000000',
    ...env,
  });
}

export interface TestPlaza {
  core: Core;
  app: ReturnType<typeof createApp>;
  /** A client with no cookies. */
  http: ReturnType<typeof supertest>;
  close(): Promise<void>;
}

/** A Plaza core and app in this process on a database of its own, with workers running. */
export async function startPlaza(
  env: Record<string, string> = {},
  opts: { workers?: boolean; modules?: ModuleOptions } = {},
): Promise<TestPlaza> {
  const database = await createTestDatabase();
  const core = await createCore(testConfig(env), { ...opts.modules, db: database.db });
  if (opts.workers !== false) await core.startWorkers();
  const app = createApp(core);
  return {
    core,
    app,
    http: supertest(app.callback()),
    async close() {
      await core.close(2000);
      await database.drop();
    },
  };
}

/** A Plaza listening on 127.0.0.1; everything a `TestPlaza` has, plus its URLs. */
export interface PlazaServer extends TestPlaza {
  baseUrl: string;
  /** The OAuth issuer (`<baseUrl>/oauth`). */
  issuer: string;
  database: TestDatabase;
  server: Server;
}

export interface PlazaServerOptions {
  /** Another server's database, to run a second API process on it (not dropped on close). */
  database?: TestDatabase;
  env?: Record<string, string>;
  workers?: boolean;
  revocationPollMs?: number;
  /** PLAZA_PUBLIC_URL when it is not this server's own address (processes behind one load balancer). */
  publicUrl?: string;
  /** Module tuning (a stub DNS resolver for branding, ...). */
  modules?: ModuleOptions;
}

export async function startPlazaServer(opts: PlazaServerOptions = {}): Promise<PlazaServer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const ownDatabase = !opts.database;
  const database = opts.database ?? (await createTestDatabase());
  const config = testConfig({ PLAZA_PUBLIC_URL: opts.publicUrl ?? baseUrl, ...opts.env });
  const core = await createCore(config, {
    ...opts.modules,
    db: database.db,
    oauth: { revocationPollMs: opts.revocationPollMs },
  });
  if (opts.workers !== false) await core.startWorkers();
  const app = createApp(core);
  server.on('request', app.callback());
  return {
    core,
    app,
    baseUrl,
    issuer: `${config.baseUrl}/oauth`,
    http: supertest(baseUrl),
    database,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await core.close(2000);
      if (ownDatabase) await database.drop();
    },
  };
}

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const alive = new Set<ChildProcess>();

/** Kills (SIGKILL) every Plaza process a test started and did not see exit; call in afterEach. */
export function killLeftoverPlazas(): void {
  for (const child of alive) child.kill('SIGKILL');
  alive.clear();
}

export interface PlazaProcess {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Base URL once the API listens. */
  url: string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/**
 * Runs Plaza as a real process, from `npm start`'s entry (server/start.js,
 * which runs server/main.ts), with the same Node that runs the tests (npm
 * scripts pin it to Node 24), and waits until its API listens.
 */
export async function spawnPlaza(
  env: Record<string, string>,
  opts: { waitForListen?: boolean } = {},
): Promise<PlazaProcess> {
  const child = spawn(process.execPath, [path.join(root, 'server/start.js')], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      PLAZA_RATE_LIMIT_ANONYMOUS_PER_MINUTE: '1000000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  alive.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      alive.delete(child);
      resolve(code);
    }),
  );
  const proc: PlazaProcess = { child, output: () => out, url: '', exited };
  if (opts.waitForListen === false) return proc;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const m = /"url":"(http:\/\/[^"]+)".*"msg":"Plaza API listening"/.exec(out);
    if (m) {
      proc.url = m[1];
      return proc;
    }
    if (child.exitCode !== null)
      throw new Error(`Plaza exited (${child.exitCode}) before listening:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`Plaza did not listen within 60 s:\n${out}`);
}
