import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type MigrationSource, readMigrations, runMigrations } from './migrate.ts';

/**
 * A new PGlite data folder starts as a copy of an initialised, empty cluster
 * instead of running initdb (most of a first start). The template is made
 * once per machine and PGlite version, under node_modules/.cache, by the first
 * start that needs it; it holds nothing of any installation (no secrets, no
 * rows but what migrations insert), only what initdb makes and, when the
 * caller passes its migrations, the schema they create: a second template per
 * migration set, keyed by a hash of every migration's owner, name and
 * checksum, so that a new or changed migration makes a new one.
 */

/** PGlite's package folder and version: a template is only valid for the PGlite that made it. */
function pgliteInstall(): { dir: string; version: string } {
  let dir = path.dirname(fileURLToPath(import.meta.resolve('@electric-sql/pglite')));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the @electric-sql/pglite package folder');
    dir = up;
  }
  return { dir, version: JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version };
}

/**
 * The migration set's key: `<owners>-<content>`, the first part a hash of the
 * owners (which modules), the second of every migration's owner, name and
 * checksum, so that adding or editing a migration changes it.
 */
export function migrationSetKey(sources: MigrationSource[]): string {
  const short = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 12);
  const content = sources
    .flatMap(readMigrations)
    .map((m) => `${m.owner}/${m.name} ${m.checksum}\n`)
    .join('');
  return `${short(sources.map((s) => s.owner).join(','))}-${short(content)}`;
}

export function templateDir(migrationSet?: string): string {
  const { dir, version } = pgliteInstall();
  // .../node_modules/@electric-sql/pglite -> .../node_modules/.cache/plaza/pglite-<version>[-m<set key>]
  const name = `pglite-${version}${migrationSet ? `-m${migrationSet}` : ''}`;
  return path.join(dir, '..', '..', '.cache', 'plaza', name);
}

/** Whether `dir` holds a PostgreSQL cluster. */
export const isCluster = (dir: string) => existsSync(path.join(dir, 'PG_VERSION'));

/**
 * Builds into a temporary sibling of `dir` and renames it there; racing
 * processes each build one, one rename wins (`isBuilt` tells whether the one
 * in place is complete). A failed build leaves nothing behind.
 */
export async function buildAt(
  dir: string,
  build: (into: string) => Promise<void>,
  isBuilt: (dir: string) => boolean = isCluster,
): Promise<void> {
  const building = `${dir}.${process.pid}.tmp`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(path.dirname(dir), { recursive: true });
  try {
    await build(building);
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    throw err;
  }
  try {
    renameSync(building, dir);
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    if (!isBuilt(dir)) throw err;
  }
}

/** Replaces `dir` by a copy of `from`, made beside it and renamed, so an interrupted copy never looks like a cluster. */
export function copyInto(from: string, dir: string): void {
  const copying = `${dir}.${process.pid}.tmp`;
  rmSync(copying, { recursive: true, force: true });
  cpSync(from, copying, { recursive: true });
  rmSync(dir, { recursive: true, force: true });
  renameSync(copying, dir);
}

/**
 * Removes the siblings of `keep` that `matches` picks, made over `maxAgeMs` ago (one could
 * still be copied from now), and the unfinished builds (`<dir>.<pid>.tmp`, buildAt) of
 * processes that no longer run: a start killed while building left them for good.
 */
export function pruneOlder(keep: string, matches: (name: string) => boolean, maxAgeMs: number): void {
  const parent = path.dirname(keep);
  for (const name of readdirSync(parent)) {
    const full = path.join(parent, name);
    if (!matches(name) || full === keep) continue;
    const builder = /\.(\d+)\.tmp$/.exec(name);
    try {
      if (builder ? !isRunning(Number(builder[1])) : Date.now() - statSync(full).mtimeMs > maxAgeMs)
        rmSync(full, { recursive: true, force: true });
    } catch {
      // Another process removed it first.
    }
  }
}

/** Whether a process with this id runs on this machine (EPERM: it does, as another user). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Makes the template when missing; returns its folder. With `migrations`, the
 * template also has them applied (and recorded in plaza_migrations), built
 * from the initdb template; templates of older versions of the same set are removed.
 */
export async function ensureTemplate(migrations?: MigrationSource[]): Promise<string> {
  const base = templateDir();
  if (!isCluster(base))
    await buildAt(base, async (into) => {
      // initdb; loaded here only, as a start that finds the template never needs PGlite on this thread.
      const { PGlite } = await import('@electric-sql/pglite');
      const lite = await PGlite.create(into);
      await lite.close();
    });
  if (!migrations) return base;
  const dir = templateDir(migrationSetKey(migrations));
  if (isCluster(dir)) return dir;
  await buildAt(dir, async (into) => {
    cpSync(base, into, { recursive: true });
    // Loaded here only: index.ts imports this file for seedFromTemplate.
    const { openPglite } = await import('./index.ts');
    const db = await openPglite(into);
    try {
      await runMigrations(db, migrations);
    } finally {
      await db.close();
    }
  });
  // Older versions of the same set (pglite-<version>-m<owners>-<content>: same owners, other content).
  const sameSet = path.basename(dir).replace(/[^-]+$/, '');
  pruneOlder(dir, (name) => name.startsWith(sameSet), 3_600_000);
  return dir;
}

/**
 * Fills `dataDir` from the template (with `migrations` applied, when given)
 * when it holds no cluster yet. Copied to a sibling folder and renamed, so an
 * interrupted copy never looks like a cluster. Returns false (the caller lets
 * PGlite run initdb in place, and the migrations run as usual) when no
 * template can be made, e.g. a read-only node_modules; 'copied' when the
 * folder is new.
 */
export async function seedFromTemplate(
  dataDir: string,
  migrations?: MigrationSource[],
): Promise<boolean | 'copied'> {
  if (isCluster(dataDir)) return true;
  // Something else is in the folder: leave it to PGlite rather than replace it.
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) return false;
  let template: string;
  try {
    template = await ensureTemplate(migrations);
  } catch (err) {
    process.emitWarning(`no PGlite template (${(err as Error).message}); initialising the data folder`);
    return false;
  }
  copyInto(template, dataDir);
  return 'copied';
}
