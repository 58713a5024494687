import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';

/**
 * A new PGlite data folder starts as a copy of an initialised, empty cluster
 * instead of running initdb (most of a first start). The template is made
 * once per machine and PGlite version, under node_modules/.cache, by the first
 * start that needs it; it holds nothing of any installation (no tables, no
 * secrets), only what initdb makes.
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

export function templateDir(): string {
  const { dir, version } = pgliteInstall();
  // .../node_modules/@electric-sql/pglite -> .../node_modules/.cache/plaza/pglite-<version>
  return path.join(dir, '..', '..', '.cache', 'plaza', `pglite-${version}`);
}

const isCluster = (dir: string) => existsSync(path.join(dir, 'PG_VERSION'));

/** Makes the template when missing; returns its folder. Processes racing here each build one; one rename wins. */
export async function ensureTemplate(): Promise<string> {
  const dir = templateDir();
  if (isCluster(dir)) return dir;
  const building = `${dir}.${process.pid}.tmp`;
  rmSync(building, { recursive: true, force: true });
  mkdirSync(path.dirname(dir), { recursive: true });
  const lite = await PGlite.create(building);
  await lite.close();
  try {
    renameSync(building, dir);
  } catch (err) {
    rmSync(building, { recursive: true, force: true });
    if (!isCluster(dir)) throw err;
  }
  return dir;
}

/**
 * Fills `dataDir` from the template when it holds no cluster yet. Copied to a
 * sibling folder and renamed, so an interrupted copy never looks like a
 * cluster. Returns false (the caller lets PGlite run initdb in place) when no
 * template can be made, e.g. a read-only node_modules.
 */
export async function seedFromTemplate(dataDir: string): Promise<boolean> {
  if (isCluster(dataDir)) return true;
  // Something else is in the folder: leave it to PGlite rather than replace it.
  if (existsSync(dataDir) && readdirSync(dataDir).length > 0) return false;
  let template: string;
  try {
    template = await ensureTemplate();
  } catch (err) {
    process.emitWarning(`no PGlite template (${(err as Error).message}); initialising the data folder`);
    return false;
  }
  const copying = `${dataDir}.${process.pid}.tmp`;
  rmSync(copying, { recursive: true, force: true });
  cpSync(template, copying, { recursive: true });
  rmSync(dataDir, { recursive: true, force: true });
  renameSync(copying, dataDir);
  return true;
}
