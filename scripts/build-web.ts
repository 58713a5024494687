/**
 * Builds the web app (web/ -> web/dist) with Vite.
 *
 *   node scripts/build-web.ts             build
 *   node scripts/build-web.ts --if-stale  build only when a file under web/ or a plugin's web/ is newer than web/dist/index.html
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const webDir = path.join(repoRoot, 'web');
export const distDir = path.join(webDir, 'dist');
const distIndex = path.join(distDir, 'index.html');
const SKIP = new Set(['dist', 'node_modules', '.vite']);

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full));
    else if (entry.isFile()) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

/** Folders of plugin pages the build bundles (web/src/plugins.ts globs them). */
function pluginWebDirs(): string[] {
  return ['plugins', path.join('test', 'fixtures', 'plugins')].flatMap((root) => {
    const dir = path.join(repoRoot, root);
    if (!existsSync(dir)) return [];
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && existsSync(path.join(dir, e.name, 'web')))
      .map((e) => path.join(dir, e.name, 'web'));
  });
}

/** True when web/dist is missing or older than any source file under web/ or a plugin's web/. */
export function webIsStale(): boolean {
  let built: number;
  try {
    built = statSync(distIndex).mtimeMs;
  } catch {
    return true;
  }
  return [webDir, ...pluginWebDirs()].some((dir) => newestMtime(dir) > built);
}

/** Runs the Vite build; with `ifStale`, does nothing when web/dist is up to date. Returns whether it built. */
export async function buildWeb(opts: { ifStale?: boolean; quiet?: boolean } = {}): Promise<boolean> {
  const say = (line: string) => {
    if (!opts.quiet) console.log(line);
  };
  if (opts.ifStale && !webIsStale()) {
    say('web: web/dist is up to date');
    return false;
  }
  const started = performance.now();
  const { build } = await import('vite');
  await build({ configFile: path.join(webDir, 'vite.config.ts'), logLevel: 'warn' });
  say(`web: built web/dist in ${((performance.now() - started) / 1000).toFixed(1)}s`);
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildWeb({ ifStale: process.argv.includes('--if-stale') }).catch((err: unknown) => {
    console.error(`web: build failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
