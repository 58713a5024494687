import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { Db } from '../db/index.ts';
import type { RateLimiter } from '../http/rate-limit.ts';
import type { AnyRoute } from '../http/route.ts';
import type { JobDefinition, JobQueue } from '../jobs/types.ts';
import type { ExtensionRegistry } from '../lib/extension-points.ts';
import type { Logger } from '../logger.ts';
import type { PluginEventType, PluginScope } from '../plugin-api/manifest.ts';
import type { ScopeCatalog } from '../scopes.ts';
import type { Storage } from '../storage/index.ts';

/**
 * The service of every core module by name. Each module adds its own entry
 * from its `index.ts`, so that naming a module in `requires` types the
 * dependency:
 *
 * ```ts
 * declare module '../module.ts' {
 *   interface ModuleServices { ledger: LedgerService }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging in each module's index.ts
export interface ModuleServices {}

/** Tuning a process hands to modules (tests mostly); each module adds its key the same way. */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging in each module's index.ts
export interface ModuleOptions {}

export type ModuleName = keyof ModuleServices;

/** What every module gets besides the services it requires: the process's shared parts. */
export interface Platform {
  config: Config;
  /** PLAZA_SECRET, or the one generated into PLAZA_DATA_DIR. */
  secret: string;
  log: Logger;
  db: Db;
  jobs: JobQueue;
  /** Shared state across processes (rate limits, revocations) when REDIS_URL is set. */
  redis: Redis | undefined;
  rateLimiter: RateLimiter;
  /** The scope catalog, already holding every module's scopes when services are created. */
  scopes: ScopeCatalog;
  /** Uploaded files (PLAZA_DATA_DIR/uploads). */
  storage: Storage;
  /** Extension points: a module defines its own in createService; plugins add to them; sealed before start. */
  extensions: ExtensionRegistry;
  options: ModuleOptions;
}

export type ModuleDeps<R extends ModuleName> = Platform & { [K in R]: ModuleServices[K] };

/** A job the module runs; `everyMs` also schedules it (once per interval across workers). */
export interface ModuleJob extends JobDefinition {
  everyMs?: number;
}

export interface ModuleDefinition<N extends string, R extends ModuleName, U extends ModuleName, S> {
  /** The folder name; job names start with it (`<name>.<job>`). */
  name: N;
  /** Modules whose services `createService` uses; they are created first. */
  requires?: readonly R[];
  /**
   * Modules whose services only the routes use. Routes are built once every
   * service exists, so these may come later in the order (a cycle of services
   * is not allowed; one through routes is).
   */
  routesUse?: readonly U[];
  /** Tables this module's migrations create. No other module's SQL names them (test/architecture). */
  tables?: readonly string[];
  /** Folder of `NNN_name.sql` migrations relative to the module (default `migrations` when it exists). */
  migrations?: string;
  /** Scopes apps can request that this module's data answers to. */
  scopes?: readonly PluginScope[];
  /** Event types this module emits. */
  eventTypes?: readonly PluginEventType[];
  createService?(deps: ModuleDeps<R>): S | Promise<S>;
  /** Jobs the module's service handles. */
  jobs?(service: S): ModuleJob[];
  routes?(deps: ModuleDeps<R | U | (N & ModuleName)>): AnyRoute[];
  /** In every process, once plugins are loaded. */
  start?(service: S): void | Promise<void>;
  /**
   * Once the process serves requests (after listening) and its workers run: makes what was
   * left out of the start because no request needed it yet (the OAuth provider). Errors are logged.
   */
  warm?(service: S): void | Promise<void>;
  /** In processes that run workers, after the job queue started. */
  startWorkers?(service: S): void | Promise<void>;
  /** Stops what `startWorkers` started producing; runs before the job queue stops. */
  stopWorkers?(service: S): void | Promise<void>;
  /** Last: releases what the service holds; gets the time running work may take to finish. */
  stop?(service: S, timeoutMs: number): void | Promise<void>;
}

/** A module as the loader sees it: its definition and the folder it came from. */
export type CoreModule = ModuleDefinition<string, ModuleName, ModuleName, any> & { dir: string };

/**
 * Declares a core module in its `index.ts` (`export default defineModule({...})`).
 * It returns the definition unchanged; its job is typing the dependencies.
 */
export function defineModule<
  const N extends string,
  const R extends ModuleName = never,
  const U extends ModuleName = never,
  S = undefined,
>(def: ModuleDefinition<N, R, U, S>): ModuleDefinition<N, R, U, S> {
  return def;
}
