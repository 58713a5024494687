import { existsSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { type MigrationSource, runMigrations } from '../db/migrate.ts';
import { registerErrorCodes } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { CORE_MODULES } from '../modules/index.ts';
import type { PluginManifest } from '../plugin-api/manifest.ts';
import { registerCatalogEntries } from './catalogs.ts';
import { configPrefix, configVariables, type Env, parsePluginConfig } from './config.ts';
import { createPluginContext, type PluginRuntime } from './context.ts';
import { PluginLoadError, type PluginProblem, problem, throwIfAny } from './errors.ts';
import { hostRoutes } from './host-routes.ts';
import type { LoadedPlugins, PluginHostDeps } from './index.ts';
import { validateManifest } from './manifest.ts';
import { applyMigrations, checkMigrations, migrationSource } from './migrations.ts';
import { missingRequirements, orderByRequirements } from './order.ts';
import { importPlugins } from './resolve.ts';
import { createSettingsStore, SETTINGS_MIGRATIONS, type SettingsStore } from './settings.ts';

/** Names no plugin may take beyond today's core route prefixes: core modules, and room for the host. */
const ALWAYS_RESERVED = ['core', 'plugins'];

interface Candidate {
  name: string;
  dir: string;
  manifest: PluginManifest<z.ZodObject>;
  requires: string[];
}

/**
 * Loads the plugins named in PLAZA_PLUGINS, in phases: import and validate
 * every manifest, check requirements and order them, parse their config,
 * check their migrations, register their scopes and event types, apply their
 * migrations, then call each setup in order. A phase that finds problems
 * throws a PluginLoadError listing all of them, so nothing is written to the
 * database while any plugin is still known to be broken.
 */
export async function loadEnabledPlugins(deps: PluginHostDeps): Promise<LoadedPlugins> {
  const names = [...new Set(deps.config.plugins)];
  const log = deps.log.child({ module: 'plugins' });

  const candidates = await validated(names, deps);
  throwIfAny(missingRequirements(candidates));
  const { ordered, problems: cycles } = orderByRequirements(candidates);
  throwIfAny(cycles);

  const configs = parseConfigs(ordered, deps.config.pluginEnv, log);

  const sources = new Map<string, MigrationSource>();
  const migrationProblems: PluginProblem[] = [];
  for (const p of ordered) {
    const { source, problems } = migrationSource(p.name, p.dir, p.manifest.migrations);
    migrationProblems.push(...problems, ...(source ? checkMigrations(p.name, source) : []));
    if (source) sources.set(p.name, source);
  }
  throwIfAny(migrationProblems);

  throwIfAny(ordered.flatMap((p) => registerCatalogEntries(p.manifest, deps)));
  throwIfAny(
    ordered.flatMap((p) => {
      try {
        registerErrorCodes(p.name, p.manifest.errors ?? {});
        return [];
      } catch (err) {
        return [problem(p.name, 'PLAZA_PLUGIN_CONFLICT', (err as Error).message)];
      }
    }),
  );

  // The host's own table (plugin settings) before any plugin's; applied only once a plugin is enabled.
  const hostApplied = await runMigrations(deps.db, [SETTINGS_MIGRATIONS]);
  if (hostApplied.length) log.info({ migrations: hostApplied }, 'applied plugin host migrations');
  for (const p of ordered) {
    const source = sources.get(p.name);
    if (!source) continue;
    const { applied, problems } = await applyMigrations(deps.db, p.name, source);
    throwIfAny(problems);
    if (applied.length) log.info({ plugin: p.name, migrations: applied }, 'applied plugin migrations');
  }

  // A plugin's emails/ holds its templates, sent as `<plugin>/<template>`.
  for (const p of ordered) {
    const emails = path.join(p.dir, 'emails');
    if (existsSync(emails)) deps.mail.addTemplateFolder(p.name, emails);
  }
  const hosted = ordered.map((p) => ({
    ...p,
    settings: p.manifest.settings
      ? createSettingsStore(p.name, p.manifest.settings, { db: deps.db, audit: deps.audit })
      : undefined,
  }));
  const runtimes = await setUp(hosted, configs, deps, log);
  const list = ordered.map((p) => ({ name: p.name, version: p.manifest.version }));
  log.info({ plugins: list }, 'plugins loaded');
  return {
    list,
    routes: [...hostRoutes(hosted, deps.db), ...runtimes.flatMap((r) => r.routes)],
    stop: stopper(runtimes, log),
  };
}

/** Imports each plugin and checks its manifest, its folder name and that its name is free. */
async function validated(names: string[], deps: PluginHostDeps): Promise<Candidate[]> {
  const { imported, problems } = await importPlugins(names, deps.config.pluginsDir);
  const routePrefixes = new Set(deps.reservedPrefixes);
  const reserved = new Set([...CORE_MODULES.map((m) => m.name), ...ALWAYS_RESERVED]);
  const candidates: Candidate[] = [];
  for (const p of imported) {
    const result = validateManifest(p.exported);
    if (!result.ok) {
      problems.push(...result.reasons.map((r) => problem(p.name, 'PLAZA_PLUGIN_MANIFEST_INVALID', r)));
      continue;
    }
    const { manifest } = result;
    if (manifest.name !== p.name) {
      problems.push(
        problem(
          p.name,
          'PLAZA_PLUGIN_MANIFEST_INVALID',
          `manifest.name is "${manifest.name}" but the folder is "${p.name}"; they must be the same`,
        ),
      );
      continue;
    }
    if (routePrefixes.has(p.name) || reserved.has(p.name)) {
      const why = routePrefixes.has(p.name)
        ? `its routes would live under /v1/${p.name}, where core routes are`
        : `"${p.name}" names a core module or the plugin host`;
      problems.push(
        problem(
          p.name,
          'PLAZA_PLUGIN_NAME_RESERVED',
          `the name is reserved by core (${why}); rename the plugin`,
        ),
      );
      continue;
    }
    // The web build finds pages by file name: a page whose file is missing would be a dead link.
    const missing = (manifest.web?.pages ?? []).filter(
      (pg) => !existsSync(path.join(p.dir, 'web', pg.component)),
    );
    if (missing.length) {
      problems.push(
        ...missing.map((pg) =>
          problem(
            p.name,
            'PLAZA_PLUGIN_MANIFEST_INVALID',
            `web page "${pg.path}" names web/${pg.component}, which does not exist`,
          ),
        ),
      );
      continue;
    }
    candidates.push({ name: p.name, dir: p.dir, manifest, requires: manifest.requires ?? [] });
  }
  throwIfAny(problems);
  return candidates;
}

/** Parses every plugin's settings; warns about PLAZA_PLUGIN_* variables no plugin reads (typos). */
function parseConfigs(plugins: Candidate[], env: Env, log: Logger): Map<string, Record<string, unknown>> {
  const configs = new Map<string, Record<string, unknown>>();
  const problems: PluginProblem[] = [];
  for (const p of plugins) {
    const parsed = parsePluginConfig(p.name, p.manifest.config, env);
    if (parsed.ok) configs.set(p.name, parsed.value);
    else problems.push(...parsed.problems);
  }
  const owners = configVariables(plugins.map((p) => ({ name: p.name, schema: p.manifest.config })));
  for (const [variable, claimants] of owners)
    if (claimants.length > 1)
      problems.push(
        problem(
          claimants[1],
          'PLAZA_PLUGIN_CONFIG_INVALID',
          `its setting ${variable} is also read by plugin "${claimants[0]}"; rename one config key`,
        ),
      );
  // Warned before refusing: a misspelt variable is the usual reason a required setting is missing.
  const unread = Object.keys(env).filter(
    (k) => k.startsWith('PLAZA_PLUGIN_') && !owners.has(k) && env[k] !== '',
  );
  if (unread.length)
    log.warn(
      { variables: unread, loadedPrefixes: plugins.map((p) => configPrefix(p.name)) },
      'PLAZA_PLUGIN_* variables that no loaded plugin reads (typo, or a plugin not in PLAZA_PLUGINS?)',
    );
  throwIfAny(problems);
  return configs;
}

/** Calls each setup in order; a throwing setup stops the boot after earlier plugins are stopped. */
async function setUp(
  plugins: Array<Candidate & { settings?: SettingsStore }>,
  configs: Map<string, Record<string, unknown>>,
  deps: PluginHostDeps,
  log: Logger,
): Promise<PluginRuntime[]> {
  const runtimes: PluginRuntime[] = [];
  for (const p of plugins) {
    const runtime = createPluginContext(p.manifest, configs.get(p.name) ?? {}, {
      ...deps,
      settings: p.settings,
    });
    runtimes.push(runtime);
    try {
      await p.manifest.setup(runtime.ctx as never);
    } catch (err) {
      await stopper(runtimes, log)();
      throw new PluginLoadError([
        problem(
          p.name,
          'PLAZA_PLUGIN_SETUP_FAILED',
          `setup failed: ${(err as Error)?.message ?? String(err)}`,
        ),
      ]);
    } finally {
      runtime.seal();
    }
  }
  return runtimes;
}

/** Stops plugins once, in reverse order; one failing onStop does not keep the others from running. */
function stopper(runtimes: PluginRuntime[], log: Logger): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= (async () => {
      for (const runtime of [...runtimes].reverse())
        for (const fn of [...runtime.stoppers].reverse()) {
          try {
            await fn();
          } catch (err) {
            log.error({ err, plugin: runtime.ctx.name }, 'plugin onStop failed');
          }
        }
    })();
    return stopped;
  };
}
