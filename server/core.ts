import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { z } from 'zod';
import type { Config } from './config.ts';
import { connectPostgres, type Db, openPglite } from './db/index.ts';
import { runMigrations } from './db/migrate.ts';
import { createRateLimiter } from './http/rate-limit.ts';
import type { AnyRoute } from './http/route.ts';
import { createJobQueue } from './jobs/index.ts';
import type { JobQueue } from './jobs/types.ts';
import { createLogger, type Logger } from './logger.ts';
import { appApiRoutes } from './modules/app-api/routes.ts';
import { registerAppEventTypes, registerCoreScopes } from './modules/apps/catalog.ts';
import { appRoutes } from './modules/apps/routes.ts';
import { createAppsService } from './modules/apps/service.ts';
import { auditRoutes } from './modules/audit/routes.ts';
import { createAuditService } from './modules/audit/service.ts';
import { appContactRoutes, contactRoutes } from './modules/contacts/routes.ts';
import { createContactsService } from './modules/contacts/service.ts';
import { createEventsService } from './modules/events/service.ts';
import { identityRoutes } from './modules/identity/routes.ts';
import { createIdentityService } from './modules/identity/service.ts';
import { coreMigrationSources } from './modules/index.ts';
import { installationRoutes } from './modules/installations/routes.ts';
import { createInstallationsService } from './modules/installations/service.ts';
import { createInstalledAppsView } from './modules/installations/views.ts';
import { mailRoutes } from './modules/mail/routes.ts';
import { createMailService } from './modules/mail/service.ts';
import { marketplaceRoutes } from './modules/marketplace/routes.ts';
import { createMarketplaceService } from './modules/marketplace/service.ts';
import { notificationRoutes } from './modules/notifications/routes.ts';
import { createNotificationsService } from './modules/notifications/service.ts';
import { oauthRoutes } from './modules/oauth/routes.ts';
import { createOAuthService } from './modules/oauth/service.ts';
import { organizationRoutes } from './modules/organizations/routes.ts';
import { createOrganizationsService } from './modules/organizations/service.ts';
import { reviewRoutes } from './modules/reviews/routes.ts';
import { createReviewsService } from './modules/reviews/service.ts';
import { webhookRoutes } from './modules/webhooks/routes.ts';
import { createWebhooksService } from './modules/webhooks/service.ts';
import type { Lookup } from './modules/webhooks/ssrf.ts';
import { type LoadedPlugins, loadPlugins } from './plugin-host/index.ts';
import { createScopeCatalog } from './scopes.ts';
import { createLocalStorage } from './storage/index.ts';

/**
 * Everything a Plaza process holds: configuration, database, job queue and
 * the module services, wired once. `createApp(core)` serves it over HTTP;
 * `core.startWorkers()` runs its jobs.
 */
export type Core = Awaited<ReturnType<typeof createCore>>;

export interface CoreOptions {
  /** An open database (tests); default: from config. */
  db?: Db;
  log?: Logger;
  jobs?: JobQueue;
  /** OAuth tuning for tests: how often each process re-reads revocations (default 500 ms). */
  oauth?: { revocationPollMs?: number };
  /** Webhooks for tests: the DNS answers the SSRF guard sees (default: the system resolver). */
  webhooks?: { lookup?: Lookup };
}

export async function createCore(config: Config, opts: CoreOptions = {}) {
  const log = opts.log ?? createLogger(config.logLevel);
  const secret = config.secret ?? loadOrCreateSecret(config.dataDir);
  const db =
    opts.db ??
    (config.databaseUrl
      ? connectPostgres(config.databaseUrl, config.databasePoolSize)
      : await openPglite(path.resolve(config.dataDir, 'pgdata')));
  const applied = await runMigrations(db, coreMigrationSources());
  if (applied.length) log.info({ migrations: applied }, 'applied core migrations');

  const jobs = opts.jobs ?? createJobQueue({ config, db, log });
  // Shared state across API processes (rate limits) lives in Redis when there is one.
  const redis = config.redisUrl
    ? new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 })
    : undefined;
  redis?.on('error', (err) => log.warn({ err }, 'redis connection error'));
  const rateLimiter = createRateLimiter(redis, config.redisPrefix);
  const scopes = createScopeCatalog();
  const events = createEventsService({
    db,
    jobs,
    log,
    pollMs: config.jobsPollMs,
    maxPayloadBytes: config.webhooksMaxPayloadBytes,
  });
  registerCoreEventTypes(events);
  registerCoreScopes(scopes);
  registerAppEventTypes(events);
  const audit = createAuditService({ db });
  const mail = createMailService({ config, db, jobs, log });
  const identity = createIdentityService({ db, config, audit, jobs });
  const organizations = createOrganizationsService({ db, config, audit, events, identity, mail });
  // Installations and the marketplace come before the apps service, which publishes listings to it.
  const installations = createInstallationsService({ db, audit, events });
  const marketplace = createMarketplaceService({
    db,
    baseUrl: config.baseUrl,
    audit,
    events,
    scopes,
    installations,
    log,
  });
  // Apps, reviews and notifications (issue 3): uploads live under PLAZA_DATA_DIR/uploads.
  const storage = createLocalStorage(path.resolve(config.dataDir, 'uploads'));
  const notifications = createNotificationsService({ db, identity, organizations, mail, log });
  const apps = createAppsService({ db, config, audit, events, scopes, storage, organizations, marketplace });
  // Contacts and the scoped app API (issue 4).
  const contacts = createContactsService({
    db,
    audit,
    events,
    maxPerAccount: config.contactsMaxPerAccount,
    appNames: (ids) => apps.namesByIds(ids),
    userNames: async (ids) =>
      new Map([...(await identity.usersByIds(ids))].map(([id, user]) => [id, user.name])),
  });
  const reviews = createReviewsService({
    db,
    config,
    jobs,
    log,
    audit,
    apps,
    marketplace,
    notifications,
    organizations,
    scopes,
    events,
  });
  // The OAuth provider and the install flow (issue 4): clients from the registry, installations on consent.
  const oauth = await createOAuthService({
    db,
    config,
    secret,
    log,
    jobs,
    redis,
    apps,
    installations,
    organizations,
    identity,
    scopes,
    audit,
    marketplace,
    rateLimiter,
    revocationPollMs: opts.oauth?.revocationPollMs,
  });

  // Webhooks (issue 5): endpoints, signed delivery with retries, dead letters, replay, mutes.
  const webhooks = createWebhooksService({
    db,
    config,
    secret,
    jobs,
    log,
    events,
    audit,
    apps,
    installations,
    notifications,
    lookup: opts.webhooks?.lookup,
  });

  const coreRoutes: AnyRoute[] = [
    ...identityRoutes({ identity, organizations, config }),
    ...organizationRoutes({ organizations }),
    ...auditRoutes({ audit }),
    ...mailRoutes({ mail, devMailbox: config.devMailbox ?? false }),
    ...installationRoutes({
      installations,
      uninstall: (org, id) => oauth.uninstall(org, id),
      describe: createInstalledAppsView({
        apps,
        users: (ids) => identity.usersByIds(ids),
        scopes,
        baseUrl: config.baseUrl,
      }),
    }),
    ...marketplaceRoutes({ marketplace }),
    ...appRoutes({ apps, organizations, scopes }),
    ...reviewRoutes({ reviews }),
    ...notificationRoutes({ notifications }),
    ...contactRoutes({ contacts }),
    ...appContactRoutes({ contacts }),
    ...appApiRoutes({ organizations, installations }),
    // Agency bulk installs and the app's own installations (tokens, uninstall).
    ...oauthRoutes({ oauth }),
    ...webhookRoutes({ webhooks }),
  ];
  const reservedPrefixes = [...new Set(coreRoutes.map((r) => r.path.split('/')[2]))];

  let plugins: LoadedPlugins;
  try {
    plugins = await loadPlugins({ config, db, log, jobs, events, scopes, reservedPrefixes });
  } catch (err) {
    // A database handed in (tests) belongs to the caller, as in close().
    if (!opts.db) await db.close().catch(() => {});
    throw err;
  }
  // Every process keeps the set of revoked installations current (access tokens are checked locally).
  await oauth.start();

  let workersRunning = false;
  return {
    config,
    secret,
    log,
    db,
    jobs,
    rateLimiter,
    scopes,
    events,
    audit,
    mail,
    identity,
    organizations,
    installations,
    marketplace,
    storage,
    notifications,
    apps,
    reviews,
    contacts,
    oauth,
    webhooks,
    plugins,
    /** Every HTTP route: core then plugins. The OpenAPI document and the tenancy matrix walk this list. */
    routes: [...coreRoutes, ...plugins.routes],
    async startWorkers() {
      await jobs.start();
      events.start();
      webhooks.start();
      await reviews.requeuePendingChecks();
      workersRunning = true;
    },
    /** Stops workers (running jobs get `timeoutMs` to finish, then go back to the queue) and closes. */
    async close(timeoutMs = config.shutdownTimeoutMs) {
      if (workersRunning) await events.stop();
      // Running jobs and webhook attempts in flight finish side by side within the same time.
      await Promise.all([jobs.stop(timeoutMs), webhooks.stop(timeoutMs)]);
      await plugins.stop();
      await oauth.stop();
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

function registerCoreEventTypes(events: ReturnType<typeof createEventsService>) {
  events.registerType({
    type: 'organization.created',
    description: 'An organization or sub-account was created.',
    scope: null,
    owner: 'core',
    payload: z.object({
      organizationId: z.string(),
      kind: z.enum(['developer', 'agency', 'account']),
      name: z.string(),
      parentId: z.string().optional(),
    }),
  });
}
