import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Db } from '../db/index.ts';
import { type MigrationSource, readMigrations, runMigrations } from '../db/migrate.ts';
import { type PluginProblem, problem } from './errors.ts';

const FILE_NAME = /^\d{3}_[a-z0-9_]+\.sql$/;
// Statements that name a table they create or change; comments are stripped first.
const TABLE_STATEMENT =
  /\b(create|alter|drop)\s+(?:(?:global\s+|local\s+)?(?:temporary\s+|temp\s+|unlogged\s+))?table\s+(?:if\s+(?:not\s+)?exists\s+)?(?:only\s+)?("[^"]+"|[\w.]+)/gi;

/** Plugin tables carry the plugin name, so they can never meet core's or another plugin's. */
export const tablePrefix = (plugin: string) => `${plugin.replaceAll('-', '_')}_`;

/**
 * The migrations folder of a plugin (or core module, whose owner is its bare
 * name): the manifest's, which must exist and stay inside the plugin folder,
 * or `migrations` when that exists.
 */
export function migrationSource(
  plugin: string,
  dir: string,
  declared: string | undefined,
  owner = `plugin:${plugin}`,
): { source?: MigrationSource; problems: PluginProblem[] } {
  if (declared === undefined) {
    const fallback = path.join(dir, 'migrations');
    return { source: isDir(fallback) ? { owner, dir: fallback } : undefined, problems: [] };
  }
  const resolved = path.resolve(dir, declared);
  const bad = (reason: string) => ({
    problems: [problem(plugin, 'PLAZA_PLUGIN_MIGRATION_INVALID', `manifest.migrations ${reason}`)],
  });
  if (path.relative(dir, resolved).startsWith('..') || path.isAbsolute(path.relative(dir, resolved)))
    return bad(`must be a folder inside the plugin (got "${declared}")`);
  if (!isDir(resolved)) return bad(`names a folder that does not exist (got "${declared}")`);
  return { source: { owner, dir: resolved }, problems: [] };
}

/**
 * Checks file names (`NNN_name.sql`, applied in that order) and that every
 * table a migration creates, alters or drops is the plugin's own. This is a
 * guard against mistakes, not a sandbox: plugins run with Plaza's privileges.
 */
export function checkMigrations(plugin: string, source: MigrationSource): PluginProblem[] {
  const problems: PluginProblem[] = [];
  const prefix = tablePrefix(plugin);
  for (const m of readMigrations(source)) {
    if (!FILE_NAME.test(m.name))
      problems.push(
        problem(plugin, 'PLAZA_PLUGIN_MIGRATION_INVALID', `migration ${m.name} must be named NNN_name.sql`),
      );
    const sql = m.sql.replace(/--[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const match of sql.matchAll(TABLE_STATEMENT)) {
      const table = match[2].replaceAll('"', '').split('.').pop()!;
      if (!table.startsWith(prefix))
        problems.push(
          problem(
            plugin,
            'PLAZA_PLUGIN_MIGRATION_INVALID',
            `migration ${m.name} ${match[1].toLowerCase()}s table "${table}"; a plugin may only touch its own tables, named ${prefix}...`,
          ),
        );
    }
  }
  return problems;
}

/** Applies pending migrations under owner `plugin:<name>`; a failure names the plugin. */
export async function applyMigrations(
  db: Db,
  plugin: string,
  source: MigrationSource,
): Promise<{ applied: string[]; problems: PluginProblem[] }> {
  try {
    return { applied: await runMigrations(db, [source]), problems: [] };
  } catch (err) {
    // Each migration commits on its own: the first one not recorded is the one that failed.
    const done = await db
      .query<{ name: string }>('SELECT name FROM plaza_migrations WHERE owner = $1', [source.owner])
      .then((rows) => new Set(rows.map((r) => r.name)))
      .catch(() => new Set<string>());
    const failing = readMigrations(source).find((m) => !done.has(m.name))?.name ?? '(unknown)';
    return {
      applied: [],
      problems: [
        problem(
          plugin,
          'PLAZA_PLUGIN_MIGRATION_FAILED',
          `migration ${failing} failed: ${(err as Error).message}`,
        ),
      ],
    };
  }
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}
