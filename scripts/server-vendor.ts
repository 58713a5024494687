/**
 * The server's largest dependencies as one bundle (a few files instead of
 * ~440: oidc-provider alone is 183), which `npm start` (server/start.js) loads
 * in their place: on a restart Node's module loader (resolving, reading and
 * linking each file) was most of the main thread's time before listening.
 *
 * The bundle is made from node_modules by rolldown (a devDependency, through
 * vite) under node_modules/.cache/plaza, one per install (named after
 * node_modules/.package-lock.json, which npm rewrites on every install), by
 * the first start that finds none or by `npm run build` (node scripts/server-vendor.ts). Without
 * rolldown (an install without devDependencies) the packages load as before.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, registerHooks } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Imported by name only (a default or ESM export each), so a bundle's
 * entry exports what the package does. Changing the list: bump VERSION.
 */
export const VENDORED = [
  'zod',
  'oidc-provider',
  'jose',
  'handlebars',
  'koa',
  '@koa/router',
  'koa-mount',
  'pg',
];
const VERSION = 4;
const root = fileURLToPath(new URL('..', import.meta.url));
const DONE = 'complete';

export const entryFile = (name: string) => `${name.replace('/', '__')}.mjs`;

/** The bundle's folder for what is installed now; undefined without node_modules/.package-lock.json. */
export function vendorDir(): string | undefined {
  let lock: ReturnType<typeof statSync>;
  try {
    lock = statSync(path.join(root, 'node_modules', '.package-lock.json'));
  } catch {
    return undefined;
  }
  const name = `server-vendor-v${VERSION}-${Math.trunc(lock.mtimeMs)}-${lock.size}`;
  return path.join(root, 'node_modules', '.cache', 'plaza', name);
}

export const isBuilt = (dir: string) => existsSync(path.join(dir, DONE));

/**
 * `import ... from 'node:http'` in the bundle (@koa/router, oidc-provider) becomes a require of it
 * (server/main.ts does the same): the ES module view of node:http reads every export, and three of
 * them (WebSocket, CloseEvent, MessageEvent) are getters that load Node's internal undici, about
 * 60 ms of a start's main thread for nothing Plaza uses.
 */
const HTTP_AS_REQUIRE = '\0plaza:http';
function httpSource(): string {
  const http = createRequire(import.meta.url)('node:http') as Record<string, unknown>;
  const plain = Object.keys(http).filter(
    (k) => /^[A-Za-z_$][\w$]*$/.test(k) && !Object.getOwnPropertyDescriptor(http, k)?.get,
  );
  return [
    "import { createRequire } from 'node:module';",
    "const http = createRequire(import.meta.url)('node:http');",
    'export default http;',
    `export const { ${plain.join(', ')} } = http;`,
  ].join('\n');
}
const httpAsRequire = {
  name: 'plaza-http-as-require',
  resolveId(id: string, _importer: string | undefined, extra: { kind?: string }) {
    return (id === 'http' || id === 'node:http') && extra.kind !== 'require-call' ? HTTP_AS_REQUIRE : null;
  },
  load: (id: string) => (id === HTTP_AS_REQUIRE ? httpSource() : null),
};

/** Bundles VENDORED into `dir` (a new folder). */
export async function bundleInto(dir: string): Promise<void> {
  const { build } = await import('rolldown');
  await build({
    cwd: root,
    input: Object.fromEntries(VENDORED.map((name) => [entryFile(name).slice(0, -4), name])),
    platform: 'node',
    logLevel: 'silent',
    plugins: [httpAsRequire],
    output: { dir, format: 'esm', entryFileNames: '[name].mjs', chunkFileNames: 'chunk-[hash].mjs' },
  });
  writeFileSync(path.join(dir, DONE), '');
}

/**
 * The current bundle's folder, made first when missing; undefined when it
 * cannot be (no lockfile, no rolldown): the packages' own files then load.
 */
export async function ensureVendor(): Promise<string | undefined> {
  const dir = vendorDir();
  if (!dir) return undefined;
  if (isBuilt(dir)) return dir;
  try {
    import.meta.resolve('rolldown');
  } catch {
    return undefined;
  }
  const { buildAt, pruneOlder } = await import('../server/db/pglite-template.ts');
  try {
    await buildAt(dir, bundleInto, isBuilt);
  } catch (err) {
    process.emitWarning(
      `server bundle not built (${(err as Error).message}); loading the packages' own files`,
    );
    return undefined;
  }
  pruneOlder(dir, (name) => name.startsWith('server-vendor-'), 3_600_000);
  return dir;
}

/**
 * From here on, `import ... from 'zod'` (and the rest of VENDORED) loads the
 * bundle in `dir`; require() keeps the packages' own files (a bundle entry is
 * an ES module).
 */
export function useVendor(dir: string): void {
  const urls = new Map(VENDORED.map((name) => [name, pathToFileURL(path.join(dir, entryFile(name))).href]));
  registerHooks({
    resolve(specifier, context, next) {
      const url = urls.get(specifier);
      return url && context.conditions.includes('import')
        ? { url, format: 'module', shortCircuit: true }
        : next(specifier, context);
    },
  });
}

if (import.meta.main) {
  const dir = await ensureVendor();
  console.log(dir ? `server bundle: ${path.relative(root, dir)}` : 'server bundle: not built');
}
