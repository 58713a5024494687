import { existsSync } from 'node:fs';
import { createRequire, enableCompileCache } from 'node:module';
import path from 'node:path';

// node:http through require: its ES module view reads every export, and three of them are getters
// that load Node's internal undici (about 60 ms of every start; scripts/server-vendor.ts does the same).
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

// Node keeps the compiled modules in its cache folder (the OS temp dir) between
// starts; a restart then skips most parsing. Enabled before the modules load (`npm start`'s
// server/start.js has enabled it already; this is for `node server/main.ts`).
enableCompileCache();
const { ConfigError, loadConfig } = await import('./config.ts');
let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`Plaza did not start. ${err.message}`);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}
// A restart on embedded PGlite: the cluster opens (most of it PGlite's own start) while the
// web check and the rest of the code load. A new folder is filled first (copy below), so waits.
const pgdata = path.resolve(config.dataDir, 'pgdata');
// A new embedded data folder (first start) with the demo on: copied now from the demo template
// when one was made (server/seed/template.ts), so that PGlite starts on it below while the rest of
// the code loads, as on a restart. Otherwise main() copies or seeds once the modules have loaded.
const demo =
  !config.databaseUrl && !existsSync(path.join(pgdata, 'PG_VERSION'))
    ? await import('./seed/template.ts')
    : undefined;
const copiedEarly = demo?.copyFoundDemoTemplate(config) ?? false;
// PGlite starts in its worker (db/pglite-worker.ts, no dependencies) before db/index.ts and pg load;
// under `npm start`, server/start.js has started it already, before this module and zod loaded.
const earlyLite =
  !config.databaseUrl && existsSync(path.join(pgdata, 'PG_VERSION'))
    ? import('./db/pglite-worker.ts').then((m) => m.takeEarly(pgdata) ?? m.startPgliteWorker(pgdata))
    : undefined;
const earlyDb =
  earlyLite && import('./db/index.ts').then((m) => m.openPglite(pgdata, { started: earlyLite }));
// Awaited in main(); this keeps a failure from counting as unhandled before then.
earlyLite?.catch(() => {});
earlyDb?.catch(() => {});
// `npm start` passes this: web/dist is rebuilt when a file under web/ is newer, checked here
// rather than in a Node process of its own before this one.
if (process.argv.includes('--build-web-if-stale')) {
  const { buildWeb } = await import('../scripts/build-web.ts');
  await buildWeb({ ifStale: true }).catch((err: unknown) => {
    console.error(`web: build failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
// One load for the rest, so that the module loader reads the files of all of them at once.
// The demo's code loads only for a first start (`demo` above): a restart finds its folder or its users.
const [{ createApp }, { createCore }, { coreMigrationSources }] = await Promise.all([
  import('./app.ts'),
  import('./core.ts'),
  import('./modules/index.ts'),
]);

/**
 * Process entry: config -> core (database, migrations, plugins) -> HTTP
 * and/or workers, by PLAZA_ROLE. SIGTERM/SIGINT drain: the server stops
 * accepting, in-flight requests finish, running jobs finish or go back.
 */
async function main() {
  // A new embedded data folder with the demo on starts as a copy of the seeded template (made
  // here when there is none yet). On PostgreSQL there is no template.
  const copied =
    copiedEarly || (!earlyDb && demo ? await demo.copyDemoTemplate(config, coreMigrationSources()) : false);
  // Opened above, the database is this function's to close (after the core's close).
  const db = await earlyDb;
  const core = await createCore(config, db ? { db } : {});
  const { log } = core;

  if (config.seedDemo && config.role !== 'worker') {
    const logins = copied
      ? await demo!.finishDemoCopy(core)
      : (await core.identity.hasUsers())
        ? null
        : await (await import('./seed/index.ts')).seedDemo(core);
    if (logins) {
      const lines = logins.map((l) => `  ${l.who.padEnd(38)} ${l.email.padEnd(26)} ${l.password}`);
      // Printed once, on the first start; passwords are stored only as hashes.
      process.stdout.write(`\nPlaza demo logins (shown once):\n${lines.join('\n')}\n\n`);
    }
  }

  let server: ReturnType<typeof createServer> | undefined;
  let workersStarting: Promise<void> | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'draining');
    const deadline = setTimeout(() => {
      log.error('drain timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5000);
    deadline.unref();
    if (server) {
      const closed = new Promise((resolve) => server!.close(resolve));
      server.closeIdleConnections();
      await closed;
    }
    // Workers still starting (a signal right after listening) finish starting, then stop as usual.
    await workersStarting?.catch(() => {});
    await core.close(config.shutdownTimeoutMs);
    await db?.close();
    log.info('stopped');
    process.exit(0);
  };
  // Before listening: a signal once requests can arrive drains them, even while the workers start.
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  if (config.role !== 'worker') {
    const app = createApp(core);
    server = createServer(app.callback());
    await new Promise<void>((resolve) => server!.listen(config.port, config.host, resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    log.info(
      {
        url: `http://${config.host}:${port}`,
        database: core.db.kind,
        jobs: core.jobs.kind,
        plugins: core.plugins.list,
      },
      'Plaza API listening',
    );
  }
  if (config.role !== 'api' && !stopping) {
    workersStarting = core.startWorkers();
    await workersStarting;
    log.info({ jobs: core.jobs.kind }, 'Plaza workers running');
  }
  // What no request needed before listening (the OAuth provider) is made now, off the start's path.
  if (!stopping) setImmediate(() => void core.warm());
}

main().catch((err) => {
  console.error(`Plaza did not start: ${err instanceof Error ? err.message : String(err)}`);
  if (process.env.LOG_LEVEL === 'debug') console.error(err);
  process.exit(1);
});
