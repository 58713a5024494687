import type Router from '@koa/router';
import type { Config } from '../config.ts';
import type { Db } from '../db/index.ts';
import type { AnyRoute } from '../http/route.ts';
import type { JobQueue } from '../jobs/types.ts';
import type { Logger } from '../logger.ts';
import type { EventsService } from '../modules/events/service.ts';
import type { ScopeCatalog } from '../scopes.ts';

export interface PluginHostDeps {
  config: Config;
  db: Db;
  log: Logger;
  jobs: JobQueue;
  events: EventsService;
  scopes: ScopeCatalog;
  /** First path segments under /v1 that core routes use; a plugin may not take one. */
  reservedPrefixes: string[];
}

export interface LoadedPlugins {
  list: Array<{ name: string; version: string }>;
  /** Routes of every plugin, already under their prefixes (mounted and documented like core routes). */
  routes: AnyRoute[];
  router?: Router;
  stop(): Promise<void>;
}

/** Placeholder until the plugin host lands: refuses any configured plugin. */
export async function loadPlugins(deps: PluginHostDeps): Promise<LoadedPlugins> {
  if (deps.config.plugins.length)
    throw new Error(`plugin host not built yet; cannot load ${deps.config.plugins.join(', ')}`);
  return { list: [], routes: [], stop: async () => {} };
}
