import { createReadStream, existsSync, statSync } from 'node:fs';
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
export function serveWebApp(distDir: string, skip: RegExp, publicOrigin: string) {
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
