import type { Config } from '../config.ts';
import type { Db } from '../db/index.ts';
import type { AnyRoute } from '../http/route.ts';
import type { JobQueue } from '../jobs/types.ts';
import type { ExtensionRegistry } from '../lib/extension-points.ts';
import type { Logger } from '../logger.ts';
import type { AuditService } from '../modules/audit/index.ts';
import type { EventsService } from '../modules/events/index.ts';
import type { MailService } from '../modules/mail/index.ts';
import type { ScopeCatalog } from '../scopes.ts';
import type { CoreDataFacades } from './core-data.ts';
import type { PlatformFacades } from './facades.ts';
import { hostRoutes } from './host-routes.ts';

export { PluginLoadError, type PluginProblem, type PluginProblemCode } from './errors.ts';

export interface PluginHostDeps {
  config: Config;
  db: Db;
  log: Logger;
  jobs: JobQueue;
  events: EventsService;
  scopes: ScopeCatalog;
  /** Extension points of the core modules; plugins add to them in setup. */
  extensions: ExtensionRegistry;
  mail: MailService;
  audit: AuditService;
  /** `ctx.contacts` and `ctx.installations` for a plugin (plugin-host/core-data.ts). */
  coreData?: (plugin: string) => CoreDataFacades;
  /** `ctx.orgs`, `ctx.ledger` and `ctx.payments` for a plugin (plugin-host/facades.ts). */
  platform?: (plugin: string) => PlatformFacades;
  /** First path segments under /v1 that core routes use; a plugin may not take one. */
  reservedPrefixes: string[];
}

export interface LoadedPlugins {
  /** Loaded plugins in setup order (requirements first). */
  list: Array<{ name: string; version: string }>;
  /**
   * The host's routes (GET /v1/plugins, per-organization settings), then every
   * plugin's, already under their prefixes (mounted and documented like core routes).
   */
  routes: AnyRoute[];
  /** Runs the plugins' onStop callbacks, in reverse setup order. */
  stop(): Promise<void>;
}

/**
 * Loads the plugins named in PLAZA_PLUGINS (load.ts). Without any, the host's
 * own routes only: the loader and what it needs (manifest and config schemas,
 * settings, plugin contexts) are not even loaded, so a start without plugins
 * does not pay for them.
 */
export async function loadPlugins(deps: PluginHostDeps): Promise<LoadedPlugins> {
  if (deps.config.plugins.length === 0)
    return { list: [], routes: hostRoutes([], deps.db), stop: async () => {} };
  return (await import('./load.ts')).loadEnabledPlugins(deps);
}
