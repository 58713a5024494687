import type { z } from 'zod';
import type { Db } from '../db/index.ts';
import { PlazaError, type PluginErrorCode } from '../errors.ts';
import type { AnyRoute } from '../http/route.ts';
import type { JobQueue } from '../jobs/types.ts';
import type { ExtensionRegistry } from '../lib/extension-points.ts';
import type { Logger } from '../logger.ts';
import type { AuditService } from '../modules/audit/index.ts';
import type { EventsService } from '../modules/events/index.ts';
import type { MailService } from '../modules/mail/index.ts';
import type { PluginContext } from '../plugin-api/context.ts';
import type { PluginManifest } from '../plugin-api/manifest.ts';
import { type CoreDataFacades, missingCoreData } from './core-data.ts';
import { missingPlatformFacades, type PlatformFacades } from './facades.ts';
import { prefixRoute } from './routes.ts';
import type { SettingsStore } from './settings.ts';

const JOB_NAME = /^[a-z][a-zA-Z0-9_-]*$/;

export interface PluginRuntime {
  ctx: PluginContext<Record<string, unknown>, Record<string, unknown>>;
  /** Routes the plugin added, already prefixed. */
  routes: AnyRoute[];
  /** onStop callbacks, in the order given. */
  stoppers: Array<() => void | Promise<void>>;
  /** Closes registration once setup has returned. */
  seal(): void;
}

/**
 * Builds the context one plugin's setup receives (backstage-style: only the
 * services a plugin needs, each narrowed to it). Misuse throws at once, during
 * setup, so the boot names the plugin instead of failing on the first request.
 */
export function createPluginContext(
  manifest: PluginManifest<z.ZodObject>,
  config: Record<string, unknown>,
  deps: {
    db: Db;
    log: Logger;
    jobs: JobQueue;
    events: EventsService;
    extensions: ExtensionRegistry;
    mail: MailService;
    audit: AuditService;
    /** `ctx.contacts` and `ctx.installations` of a plugin (core-data.ts); absent in unit tests of the host. */
    coreData?: (plugin: string) => CoreDataFacades;
    /** `ctx.orgs`, `ctx.ledger` and `ctx.payments` (facades.ts); absent in unit tests of the host. */
    platform?: (plugin: string) => PlatformFacades;
    /** The plugin's settings store, when its manifest declares settings. */
    settings?: SettingsStore;
  },
): PluginRuntime {
  const name = manifest.name;
  const routes: AnyRoute[] = [];
  const stoppers: PluginRuntime['stoppers'] = [];
  const jobNames = new Set<string>();
  const ownTypes = new Set((manifest.eventTypes ?? []).map((t) => t.type));
  // Event types a plugin may listen to: core's, its own, and those of plugins it declared it needs.
  const visibleOwners = new Set([`plugin:${name}`, ...(manifest.requires ?? []).map((r) => `plugin:${r}`)]);
  const ownCodes = new Set(Object.keys(manifest.errors ?? {}));
  let subscriptions = 0;
  let sealed = false;

  const noSettings = () => new Error(`plugin "${name}" declares no settings (manifest.settings)`);

  const duringSetup = (what: string) => {
    if (sealed) throw new Error(`plugin "${name}": ${what} is only allowed while setup runs`);
  };
  const seen = new Set<string>();

  const ctx: PluginContext<Record<string, unknown>, Record<string, unknown>> = {
    name,
    version: manifest.version,
    config: Object.freeze({ ...config }),
    log: deps.log.child({ plugin: name }),
    db: deps.db,
    routes: {
      add(...added) {
        duringSetup('routes.add');
        for (const route of added) {
          const mounted = prefixRoute(name, route);
          const key = `${mounted.method} ${mounted.path}`;
          if (seen.has(key))
            throw new Error(`route ${mounted.method.toUpperCase()} ${mounted.path} is added twice`);
          seen.add(key);
          routes.push(mounted);
        }
      },
    },
    events: {
      subscribe(types, handler) {
        duringSetup('events.subscribe');
        if (!Array.isArray(types) || types.length === 0)
          throw new Error('events.subscribe needs a non-empty list of event types');
        const owners = new Map(deps.events.types().map((t) => [t.type, t.owner]));
        for (const type of types) {
          const owner = owners.get(type);
          if (!owner) throw new Error(`cannot subscribe to "${type}": no such event type`);
          if (owner.startsWith('plugin:') && !visibleOwners.has(owner))
            throw new Error(
              `cannot subscribe to "${type}" of ${owner}: add "${owner.slice('plugin:'.length)}" to requires`,
            );
        }
        // The name is part of each delivery's job id, so it must stay the same across restarts:
        // it is the subscription's rank in setup, which is stable as long as setup's code is.
        deps.events.subscribe({ name: `plugin:${name}:${++subscriptions}`, types: [...types], handler });
      },
      emit(tx, organizationId, type, payload) {
        if (!ownTypes.has(type))
          return Promise.reject(
            new Error(
              `plugin "${name}" may only emit the event types its manifest declares; "${type}" is not one`,
            ),
          );
        return deps.events.emit(tx, organizationId, type, payload);
      },
    },
    jobs: {
      define(def) {
        duringSetup('jobs.define');
        if (!JOB_NAME.test(def.name))
          throw new Error(
            `job name "${def.name}" must be letters, digits, _ or -, without the plugin prefix`,
          );
        if (jobNames.has(def.name)) throw new Error(`job "${def.name}" is defined twice`);
        jobNames.add(def.name);
        deps.jobs.define({ ...def, name: `${name}.${def.name}` });
      },
      enqueue(job, data, opts) {
        if (!jobNames.has(job))
          return Promise.reject(new Error(`plugin "${name}" has no job "${job}"; define it in setup`));
        return deps.jobs.enqueue(`${name}.${job}`, data, opts);
      },
      repeat(job, everyMs) {
        duringSetup('jobs.repeat');
        if (!jobNames.has(job))
          throw new Error(`plugin "${name}" has no job "${job}"; define it before repeat`);
        if (!Number.isInteger(everyMs) || everyMs < 1000)
          throw new Error(`jobs.repeat("${job}") needs a whole number of ms, at least 1000 (got ${everyMs})`);
        deps.jobs.repeat(`${name}.${job}`, everyMs);
      },
    },
    mail: {
      send(template, data) {
        // `<plugin>/<template>` names a template of the plugin's own emails/ folder; only its own.
        const owner = template.includes('/') ? template.split('/')[0] : null;
        if (owner !== null && owner !== name)
          return Promise.reject(
            new Error(
              `plugin "${name}" sends core templates or its own ("${name}/<template>"), not "${template}"`,
            ),
          );
        return deps.mail.send(template, data);
      },
    },
    audit: {
      record(q, entry) {
        if (!entry.action.startsWith(`${name}.`))
          return Promise.reject(
            new Error(`plugin "${name}" audits actions named "${name}.<what>", not "${entry.action}"`),
          );
        return deps.audit.record(q, entry);
      },
    },
    settings: {
      get: (orgId, q) => (deps.settings ? deps.settings.get(orgId, q) : Promise.reject(noSettings())),
      set: (q, orgId, values, actor) =>
        deps.settings ? deps.settings.set(q, orgId, values, actor) : Promise.reject(noSettings()),
    },
    ...(deps.platform?.(name) ?? missingPlatformFacades()),
    ...(deps.coreData?.(name) ?? missingCoreData()),
    extend(point, extension) {
      deps.extensions.add(point, extension, `plugin:${name}`);
    },
    error(code, detail, opts) {
      if (!ownCodes.has(code))
        throw new Error(`plugin "${name}" has no error code ${code}; declare it in the manifest's errors`);
      return new PlazaError(code as PluginErrorCode, detail, opts);
    },
    onStop(fn) {
      stoppers.push(fn);
    },
  };
  return {
    ctx,
    routes,
    stoppers,
    seal: () => {
      sealed = true;
    },
  };
}
