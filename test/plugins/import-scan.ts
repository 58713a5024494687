import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const SOURCE = /\.(ts|mts|cts|js|mjs|cjs|vue)$/;
// Static imports and re-exports (`import x from`, `export * from`, `import type`), side-effect
// imports, dynamic imports and require with a literal specifier.
const SPECIFIERS = [
  /\b(?:import|export)\s+(?:type\s+)?[^'"]*?\bfrom\s*['"]([^'"]+)['"]/g,
  /\bimport\s*['"]([^'"]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
];
// `import(someVariable)` cannot be checked, so it is not allowed at all.
const COMPUTED_IMPORT = /\b(?:import|require)\s*\(\s*[^'"\s)]/g;

export function importSpecifiers(source: string): { specifiers: string[]; computed: number } {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/[^\n]*/g, '$1');
  const specifiers = SPECIFIERS.flatMap((re) => [...code.matchAll(re)].map((m) => m[1]));
  return { specifiers, computed: [...code.matchAll(COMPUTED_IMPORT)].length };
}

/**
 * What a plugin file may import: node builtins and npm packages, files of its
 * own plugin folder, and `server/plugin-api/index.ts`. Nothing else of Plaza
 * and nothing of another plugin (plugins talk through events and requires).
 */
/** All paths absolute; messages name the file relative to `repoRoot`. */
export function importViolations(
  file: string,
  pluginRoot: string,
  repoRoot: string,
  source: string,
): string[] {
  const api = path.resolve(repoRoot, 'server', 'plugin-api', 'index.ts');
  const where = path.relative(repoRoot, file);
  const { specifiers, computed } = importSpecifiers(source);
  const problems = computed ? [`${where}: a computed import() or require()`] : [];
  for (const spec of specifiers) {
    if (spec.startsWith('/') || spec.startsWith('file:')) {
      problems.push(`${where}: absolute import "${spec}"`);
      continue;
    }
    if (!spec.startsWith('.')) {
      // Bare specifiers are packages; one spelled like a repository path is a reach-in.
      if (/^(server|plugins|test|web)\//.test(spec)) problems.push(`${where}: imports "${spec}"`);
      continue;
    }
    const target = path.resolve(path.dirname(file), spec);
    const inside = (dir: string) => !path.relative(dir, target).startsWith('..');
    // A plugin's own tests (plugins/<name>/test) may also start Plaza with the test helpers,
    // and build the web app for their browser tests.
    const testHelper =
      !path.relative(path.join(pluginRoot, 'test'), file).startsWith('..') &&
      (inside(path.join(repoRoot, 'test', 'helpers')) ||
        target === path.join(repoRoot, 'scripts', 'build-web.ts'));
    if (target !== api && !inside(pluginRoot) && !testHelper) problems.push(`${where}: imports "${spec}"`);
  }
  return problems;
}

/**
 * What a plugin's web page (`plugins/<name>/web/**`, built with the web app)
 * may import: packages, files of its own plugin, and from the web app only
 * `web/src/plugin-kit.ts`. Nothing of `server/`, not even the plugin API
 * (server code in the browser bundle), and nothing of another plugin.
 */
export function webImportViolations(
  file: string,
  pluginRoot: string,
  repoRoot: string,
  source: string,
): string[] {
  const kit = path.resolve(repoRoot, 'web', 'src', 'plugin-kit.ts');
  const where = path.relative(repoRoot, file);
  const { specifiers, computed } = importSpecifiers(scriptOf(file, source));
  const problems = computed ? [`${where}: a computed import() or require()`] : [];
  for (const spec of specifiers) {
    if (spec.startsWith('/') || spec.startsWith('file:')) {
      problems.push(`${where}: absolute import "${spec}"`);
      continue;
    }
    if (!spec.startsWith('.')) {
      if (/^(server|plugins|test|web)\//.test(spec) || spec.startsWith('@/'))
        problems.push(`${where}: imports "${spec}"`);
      continue;
    }
    const target = path.resolve(path.dirname(file), spec);
    if (target !== kit && path.relative(pluginRoot, target).startsWith('..'))
      problems.push(`${where}: imports "${spec}" (web pages import only web/src/plugin-kit.ts from Plaza)`);
  }
  return problems;
}

/** A .vue file's code is in its <script> blocks; a template's text is not code. */
function scriptOf(file: string, source: string): string {
  if (!file.endsWith('.vue')) return source;
  return [...source.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join('\n');
}

/** Whether a file is one of its plugin's web pages (or their helpers), under `<plugin>/web/`. */
export const isWebFile = (file: string, pluginRoot: string) =>
  path.relative(pluginRoot, file).split(path.sep)[0] === 'web';

/** Every violation under a folder of plugins: web files by the web rule, the rest by the server rule. */
export function scanPlugins(pluginsDir: string, repoRoot: string): { files: number; violations: string[] } {
  const files = pluginFiles(pluginsDir);
  const violations = files.flatMap(({ file, pluginRoot }) => {
    const source = readSource(file);
    if (isWebFile(file, pluginRoot)) return webImportViolations(file, pluginRoot, repoRoot, source);
    // A .vue file outside web/ is not built by anyone: it would be dead code.
    if (file.endsWith('.vue')) return [`${path.relative(repoRoot, file)}: .vue files belong in web/`];
    return importViolations(file, pluginRoot, repoRoot, source);
  });
  return { files: files.length, violations };
}

/** Every source file under a folder of plugins, with the plugin folder it belongs to. */
export function pluginFiles(pluginsDir: string): Array<{ file: string; pluginRoot: string }> {
  const out: Array<{ file: string; pluginRoot: string }> = [];
  const walk = (dir: string, pluginRoot: string) => {
    for (const entry of readdirSync(dir)) {
      const full = path.join(dir, entry);
      if (entry === 'node_modules') continue;
      if (statSync(full).isDirectory()) walk(full, pluginRoot);
      else if (SOURCE.test(entry)) out.push({ file: full, pluginRoot });
    }
  };
  for (const entry of readdirSync(pluginsDir)) {
    const full = path.join(pluginsDir, entry);
    if (statSync(full).isDirectory()) walk(full, full);
    else if (SOURCE.test(entry)) out.push({ file: full, pluginRoot: pluginsDir });
  }
  return out;
}

export const readSource = (file: string) => readFileSync(file, 'utf8');
