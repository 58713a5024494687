import type { Db, Tx } from '../db/index.ts';
import type { AnyRoute } from '../http/route.ts';
import type { JobDefinition, JobOptions } from '../jobs/types.ts';
import type { Logger } from '../logger.ts';
import type { PlazaEvent } from '../modules/events/service.ts';

/**
 * What a plugin's `setup` receives: only the services a plugin may use, each
 * already narrowed to the plugin (its route prefix, its job namespace, the
 * event types it declared). Registration (`routes.add`, `events.subscribe`,
 * `jobs.define`) is open only while `setup` runs, because routes are mounted
 * and workers started once, right after.
 */
export interface PluginContext<C = Record<string, never>> {
  readonly name: string;
  readonly version: string;
  /** The `config` schema's output, parsed from `PLAZA_PLUGIN_<NAME>_<KEY>` variables at boot. */
  readonly config: Readonly<C>;
  /** The Plaza logger, with `plugin: <name>` on every line. */
  readonly log: Logger;
  /** The database, for this plugin's own tables (named `<plugin>_...`) only. */
  readonly db: Db;
  readonly routes: PluginRoutes;
  readonly events: PluginEvents;
  readonly jobs: PluginJobs;
  /** Runs when Plaza shuts down, after the workers stopped; plugins stop in reverse load order. */
  onStop(fn: () => void | Promise<void>): void;
}

export interface PluginRoutes {
  /**
   * Adds routes declared with `defineRoute`. Their paths are relative to the
   * plugin's prefix: `/organizations/:orgId/items` answers at
   * `/v1/<plugin>/organizations/:orgId/items`.
   */
  add(...routes: AnyRoute[]): void;
}

export interface PluginEvents {
  /**
   * Calls `handler` for each committed event of these types, at least once
   * (make it idempotent: key writes on `event.id`). Allowed types: core
   * events, this plugin's own, and those of plugins it `requires`.
   */
  subscribe(types: string[], handler: (event: PlazaEvent) => Promise<void>): void;
  /**
   * Writes an event in `tx`: it exists only if `tx` commits. Only the event
   * types this plugin declared in its manifest. Returns the event id.
   */
  emit(
    tx: Tx,
    organizationId: string | null,
    type: string,
    payload: Record<string, unknown>,
  ): Promise<string>;
}

/** A job definition whose name is local to the plugin (`send`, queued as `<plugin>.send`). */
export type PluginJobDefinition<T = any> = JobDefinition<T>;

export interface PluginJobs {
  /** Declares a job `<plugin>.<name>`; handlers run at least once, so make them idempotent. */
  define<T>(def: PluginJobDefinition<T>): void;
  /** Queues one of this plugin's jobs by its local name. Returns the job id. */
  enqueue<T>(name: string, data: T, opts?: JobOptions): Promise<string>;
}
