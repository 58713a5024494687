import type { Db, Queryable, Tx } from '../db/index.ts';
import type { PlazaError } from '../errors.ts';
import type { AnyRoute } from '../http/route.ts';
import type { JobDefinition, JobOptions } from '../jobs/types.ts';
import type { ExtensionPointId, ExtensionPoints } from '../lib/extension-points.ts';
import type { Logger } from '../logger.ts';
import type { PlazaEvent } from '../modules/events/index.ts';
import type { Actor } from '../tenancy.ts';

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
  /** Emails through Plaza's mail queue (retried, SMTP or the dev mailbox). */
  readonly mail: PluginMail;
  /** The organization's audit log, in the caller's transaction. */
  readonly audit: PluginAudit;
  /**
   * Adds to an extension point a core module owns (`installation.gate`,
   * `oauth.theme`, `marketplace.pricing`; see plugins/README.md). Only while
   * setup runs: points are sealed before Plaza starts serving
   * (PLAZA_EXTENSION_SEALED), and a point that takes one extension refuses a
   * second (PLAZA_EXTENSION_TAKEN).
   */
  extend<K extends ExtensionPointId>(point: K, extension: ExtensionPoints[K]): void;
  /**
   * A client error with one of the codes the manifest declares in `errors`
   * (`PLAZA_<PLUGIN>_...`): throw it from a route or an extension and the
   * caller gets a problem+json with that code and status.
   */
  error(
    code: string,
    detail?: string,
    opts?: { fields?: Array<{ field: string; reason: string }>; extra?: Record<string, unknown> },
  ): PlazaError;
  /** Runs when Plaza shuts down, after the workers stopped; plugins stop in reverse load order. */
  onStop(fn: () => void | Promise<void>): void;
}

export interface PluginMail {
  /**
   * Queues an email rendered from Plaza's email templates
   * (`templates/emails/<template>.hbs`: a subject line, a blank line, the text).
   */
  send(template: string, data: Record<string, unknown> & { to: string }): Promise<void>;
}

export interface PluginAudit {
  /** Writes an audit entry in `q` (the transaction of the change). `action` is `<plugin>.<what>`. */
  record(
    q: Queryable,
    entry: {
      organizationId: string | null;
      actor: Actor;
      action: string;
      targetType?: string;
      targetId?: string;
      data?: Record<string, unknown>;
    },
  ): Promise<void>;
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
  /**
   * Runs a defined job every `everyMs` (with `null` data), once per interval
   * across all worker processes (a PostgreSQL schedule row, or a BullMQ job
   * scheduler). Only during setup, after `define`.
   */
  repeat(name: string, everyMs: number): void;
}
