import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config.ts';
import { connectPostgres, type Db, openPglite } from './db/index.ts';
import { runMigrations } from './db/migrate.ts';
import { createRateLimiter } from './http/rate-limit.ts';
import type { AnyRoute } from './http/route.ts';
import { createJobQueue } from './jobs/index.ts';
import type { JobQueue } from './jobs/types.ts';
import { createExtensionRegistry } from './lib/extension-points.ts';
import { createLogger, type Logger } from './logger.ts';
import { CORE_MODULES, coreMigrationSources } from './modules/index.ts';
import type { ModuleOptions, ModuleServices, Platform } from './modules/module.ts';
import { registerCatalogEntries } from './plugin-host/catalogs.ts';
import { createCoreDataFacades } from './plugin-host/core-data.ts';
import { createPlatformFacades } from './plugin-host/facades.ts';
import { type LoadedPlugins, loadPlugins } from './plugin-host/index.ts';
import { createScopeCatalog } from './scopes.ts';
import { createLocalStorage } from './storage/index.ts';

/**
 * Everything a Plaza process holds: configuration, database, job queue and
 * the module services, wired once. `createApp(core)` serves it over HTTP;
 * `core.startWorkers()` runs its jobs.
 */
export type Core = Platform &
  ModuleServices & {
    plugins: LoadedPlugins;
    /** Every HTTP route: core then plugins. The OpenAPI document and the tenancy matrix walk this list. */
    routes: AnyRoute[];
    startWorkers(): Promise<void>;
    /** Once listening (and workers started): modules make what they left for later (module.ts `warm`). */
    warm(): Promise<void>;
    /** Modules whose warm-up failed, as `module: reason`; empty when all is well (or not yet run). */
    warmFailures(): string[];
    /** Stops workers (running jobs get `timeoutMs` to finish, then go back to the queue) and closes. */
    close(timeoutMs?: number): Promise<void>;
  };

export interface CoreOptions extends ModuleOptions {
  /** An open database (tests); default: from config. */
  db?: Db;
  log?: Logger;
  jobs?: JobQueue;
}

/**
 * Builds the platform, then each module of server/modules in dependency order
 * (server/modules/index.ts): its scopes and event types go to the catalogs,
 * its service is created with the services it requires, its jobs are defined,
 * and its routes are collected once every service exists.
 */
export async function createCore(config: Config, opts: CoreOptions = {}): Promise<Core> {
  const log = opts.log ?? createLogger(config.logLevel);
  const secret = config.secret ?? loadOrCreateSecret(config.dataDir);
  const coreMigrations = coreMigrationSources();
  const db =
    opts.db ??
    (config.databaseUrl
      ? connectPostgres(config.databaseUrl, config.databasePoolSize)
      : await openPglite(path.resolve(config.dataDir, 'pgdata'), { migrations: coreMigrations }));
  const applied = await runMigrations(db, coreMigrations);
  if (applied.length) log.info({ migrations: applied }, 'applied core migrations');

  const jobs = opts.jobs ?? (await createJobQueue({ config, db, log }));
  // Shared state across API processes (rate limits) lives in Redis when there is one (loaded only then).
  const redis = config.redisUrl
    ? new (await import('ioredis')).Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 })
    : undefined;
  redis?.on('error', (err) => log.warn({ err }, 'redis connection error'));
  const platform: Platform = {
    config,
    secret,
    log,
    db,
    jobs,
    redis,
    rateLimiter: createRateLimiter(redis, config.redisPrefix),
    scopes: createScopeCatalog(),
    storage: createLocalStorage(path.resolve(config.dataDir, 'uploads')),
    extensions: createExtensionRegistry(),
    options: opts,
  };

  // Scopes first: services may look them up, and an event type names the scope an app needs.
  for (const m of CORE_MODULES)
    for (const s of m.scopes ?? []) platform.scopes.register({ ...s, owner: 'core' });
  const services: Record<string, unknown> = {};
  const deps = () => ({ ...platform, ...services }) as never;
  for (const m of CORE_MODULES) {
    if (!m.createService) continue;
    const service = await m.createService(deps());
    services[m.name] = service;
    for (const job of m.jobs?.(service) ?? []) {
      if (!job.name.startsWith(`${m.name}.`))
        throw new Error(`module ${m.name} defines job "${job.name}"; its jobs are named ${m.name}.<job>`);
      jobs.define(job);
      if (job.everyMs) jobs.repeat(job.name, job.everyMs);
    }
  }
  const { events, mail, audit } = services as unknown as ModuleServices;
  const problems = CORE_MODULES.flatMap((m) =>
    registerCatalogEntries(
      { name: m.name, eventTypes: [...(m.eventTypes ?? [])] },
      { scopes: platform.scopes, events },
      'core',
    ),
  );
  if (problems.length) throw new Error(problems.map((p) => `module ${p.plugin}: ${p.message}`).join('; '));

  const coreRoutes = CORE_MODULES.flatMap((m) => m.routes?.(deps()) ?? []);
  const reservedPrefixes = [...new Set(coreRoutes.map((r) => r.path.split('/')[2]))];

  let plugins: LoadedPlugins;
  try {
    const { scopes, extensions } = platform;
    plugins = await loadPlugins({
      config,
      db,
      log,
      jobs,
      events,
      mail,
      audit,
      scopes,
      extensions,
      reservedPrefixes,
      coreData: (name) => createCoreDataFacades(name, services as unknown as ModuleServices),
      platform: (name) => createPlatformFacades(name, services as unknown as ModuleServices),
    });
  } catch (err) {
    // A database handed in (tests) belongs to the caller, as in close().
    if (!opts.db) await db.close().catch(() => {});
    throw err;
  }
  // What plugins added to the modules' extension points stays as it is from here on.
  platform.extensions.seal();
  const each = async (hook: 'start' | 'startWorkers' | 'stopWorkers', modules = CORE_MODULES) => {
    for (const m of modules) await m[hook]?.(services[m.name]);
  };
  await each('start');

  let workersRunning = false;
  // What warm() could not make (e.g. the OAuth provider from a bad setting): /readyz reports it.
  const warmFailures = new Map<string, string>();
  return {
    ...platform,
    ...(services as unknown as ModuleServices),
    plugins,
    routes: [...coreRoutes, ...plugins.routes],
    async startWorkers() {
      await jobs.start();
      await each('startWorkers');
      workersRunning = true;
    },
    async warm() {
      for (const m of CORE_MODULES)
        await Promise.resolve()
          .then(async () => {
            await m.warm?.(services[m.name]);
            warmFailures.delete(m.name);
          })
          .catch((err) => {
            warmFailures.set(m.name, err instanceof Error ? err.message : String(err));
            log.error({ err, module: m.name }, 'module warm-up failed');
          });
    },
    warmFailures: () => [...warmFailures].map(([module, message]) => `${module}: ${message}`),
    async close(timeoutMs = config.shutdownTimeoutMs) {
      const reversed = [...CORE_MODULES].reverse();
      // Producers of work stop first, then running jobs and whatever modules hold finish side by side.
      if (workersRunning) await each('stopWorkers', [...CORE_MODULES]);
      await Promise.all([
        jobs.stop(timeoutMs),
        ...reversed.map((m) => m.stop?.(services[m.name], timeoutMs)),
      ]);
      await plugins.stop();
      await redis?.quit().catch(() => {});
      if (!opts.db) await db.close();
    },
  };
}

function loadOrCreateSecret(dataDir: string): string {
  const file = path.resolve(dataDir, 'secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(path.dirname(file), { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}
