import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Context, Next } from 'koa';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** Serves files from `root` under `mount`; nothing else (no directory listing, no `..`). */
export function serveFile(ctx: Context, root: string, relative: string, cache: string): boolean {
  const file = path.resolve(root, `.${path.posix.normalize(`/${relative}`)}`);
  if (!file.startsWith(path.resolve(root) + path.sep) || !existsSync(file)) return false;
  const stat = statSync(file);
  if (!stat.isFile()) return false;
  ctx.type = TYPES[path.extname(file)] ?? 'application/octet-stream';
  ctx.length = stat.size;
  ctx.set('Cache-Control', cache);
  ctx.body = createReadStream(file);
  return true;
}

/**
 * The web app: built files from web/dist, and index.html for every other GET
 * outside the API so that vue-router's history mode works on reload.
 */
/** The brand an index.html names before the app loads (white-label hosts); undefined: as built. */
export type IndexBrand = (ctx: Context) => Promise<{ name: string; faviconUrl: string | null } | undefined>;

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

export function serveWebApp(distDir: string, skip: RegExp, publicOrigin: string, brandOf?: IndexBrand) {
  // index.html as built, re-read when the build changes it; branded copies are made per request.
  let index: { mtimeMs: number; html: string } | undefined;
  const indexHtml = () => {
    const file = path.join(distDir, 'index.html');
    const { mtimeMs } = statSync(file);
    if (index?.mtimeMs !== mtimeMs) index = { mtimeMs, html: readFileSync(file, 'utf8') };
    return index.html;
  };
  // Asset URLs in API answers are absolute (PLAZA_PUBLIC_URL): allow that origin even when
  // the page was opened under another name for the same server (127.0.0.1 vs localhost).
  const csp = `default-src 'self'; img-src 'self' ${publicOrigin} data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'`;
  return async (ctx: Context, next: Next) => {
    await next();
    if (ctx.body !== undefined || ctx.status !== 404 || (ctx.method !== 'GET' && ctx.method !== 'HEAD'))
      return;
    if (skip.test(ctx.path)) return;
    if (
      ctx.path.startsWith('/assets/') &&
      serveFile(ctx, distDir, ctx.path, 'public, max-age=31536000, immutable')
    )
      return;
    if (path.extname(ctx.path) && serveFile(ctx, distDir, ctx.path, 'public, max-age=300')) return;
    const brand = !path.extname(ctx.path) && brandOf ? await brandOf(ctx) : undefined;
    if (brand && ctx.accepts('html') && existsSync(path.join(distDir, 'index.html'))) {
      // The title, the favicon and the no-script line say the agency's name, never the platform's.
      const name = escapeHtml(brand.name);
      ctx.type = 'html';
      ctx.set('Cache-Control', 'no-cache');
      ctx.set('Content-Security-Policy', csp);
      ctx.body = indexHtml()
        .replace(/<title>[^<]*<\/title>/, `<title>${name}</title>`)
        .replace(/<noscript>[^<]*<\/noscript>/, `<noscript>${name} needs JavaScript turned on.</noscript>`)
        .replace(
          /<link rel="icon"[^>]*>/,
          brand.faviconUrl ? `<link rel="icon" href="${escapeHtml(brand.faviconUrl)}">` : '',
        );
      return;
    }
    if (!path.extname(ctx.path) && ctx.accepts('html') && serveFile(ctx, distDir, 'index.html', 'no-cache')) {
      ctx.set('Content-Security-Policy', csp);
      return;
    }
    if (!path.extname(ctx.path) && ctx.accepts('html') && !existsSync(path.join(distDir, 'index.html'))) {
      ctx.type = 'text/plain';
      ctx.body = 'The web app is not built: run `npm run build` (npm start does it for you).';
    }
  };
}
