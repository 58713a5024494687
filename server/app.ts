import path from 'node:path';
import Router from '@koa/router';
import Koa from 'koa';
import type { Core } from './core.ts';
import { PlazaError } from './errors.ts';
import { createAppAuthenticator } from './http/app-auth.ts';
import { authenticate } from './http/auth.ts';
import { refuseIllFormedInput } from './http/edge.ts';
import { buildOpenApi } from './http/openapi.ts';
import { requestLifecycle } from './http/problem.ts';
import { rateLimitCallers } from './http/rate-limit.ts';
import { mountRoutes } from './http/router.ts';
import { serveFile, serveWebApp } from './http/static.ts';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const API_PATHS = /^\/(v1|healthz|readyz|openapi\.json|docs|oauth)(\/|$)/;
const swaggerDir = path.join(root, 'node_modules', 'swagger-ui-dist');

/**
 * Builds the Koa application for a core. It never listens: main.ts does, and
 * tests drive `app.callback()` through supertest.
 */
export function createApp(core: Core): Koa {
  const app = new Koa({ proxy: core.config.trustProxy, keys: [core.secret] });
  app.silent = true; // errors are logged by requestLifecycle, once, with the request id

  const version = process.env.npm_package_version ?? '0.1.0';
  let openapi: Record<string, unknown> | undefined;
  const openapiDocument = () => {
    openapi ??= buildOpenApi(core.routes, {
      version,
      serverUrl: core.config.baseUrl,
      scopes: core.scopes.list(),
    });
    return openapi;
  };

  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const check = (probe: () => Promise<unknown>) =>
      probe().then(
        () => 'ok',
        (e: Error) => `failing: ${e.message}`,
      );
    const [database, jobs] = await Promise.all([
      check(() => core.db.query('SELECT 1')),
      check(() => core.jobs.ping()),
    ]);
    // A module that could not make what it left for after listening (warm()) fails every request that needs it.
    const failed = core.warmFailures();
    const checks = { database, jobs, modules: failed.length ? `failing: ${failed.join('; ')}` : 'ok' };
    const ready = Object.values(checks).every((v) => v === 'ok');
    ctx.status = ready ? 200 : 503;
    ctx.body = {
      status: ready ? 'ready' : 'not ready',
      checks,
      database: core.db.kind,
      jobs: core.jobs.kind,
    };
  });
  router.get('/openapi.json', (ctx) => {
    ctx.body = openapiDocument();
  });
  router.get('/docs', (ctx) => {
    ctx.type = 'html';
    ctx.set(
      'Content-Security-Policy',
      "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    );
    ctx.body = DOCS_PAGE;
  });
  router.get('/docs/assets/:file', (ctx) => {
    const allowed = ['swagger-ui.css', 'swagger-ui-bundle.js', 'favicon-32x32.png'];
    if (ctx.params.file === 'init.js') {
      ctx.type = 'text/javascript';
      ctx.body = DOCS_INIT;
    } else if (
      !allowed.includes(ctx.params.file) ||
      !serveFile(ctx, swaggerDir, ctx.params.file, 'public, max-age=86400')
    )
      throw new PlazaError('PLAZA_ROUTE_NOT_FOUND');
  });
  // Apps' access tokens are verified locally by the OAuth module (signature, audience, revocation set).
  mountRoutes(router, core.routes, {
    identity: core.identity,
    organizations: core.organizations,
    bodyLimitBytes: core.config.bodyLimitBytes,
    scopes: core.scopes,
    apps: createAppAuthenticator({
      verifyAccessToken: (token) => core.oauth.verifyAccessToken(token),
      organizationById: (id) => core.organizations.byId(id),
      limiter: core.rateLimiter,
      onCall: (appId, limited) => core.analytics.countApiCall(appId, limited),
      limits: {
        perInstallation: core.config.appRateLimitPerMinute,
        perApp: core.config.appRateLimitPerAppPerMinute,
        anonymous: core.config.rateLimitAnonymousPerMinute,
      },
    }),
    anonymousLimit: { limiter: core.rateLimiter, perMinute: core.config.rateLimitAnonymousPerMinute },
    idempotency: core.idempotency,
    checkResponses: core.config.checkResponses,
    log: core.log,
  });

  app.use(requestLifecycle(core.log));
  // Browsers that once reached an https Plaza keep to https for a year (not subdomains: agencies' domains are theirs).
  const hsts = core.config.baseUrl.startsWith('https:') ? 'max-age=31536000' : null;
  app.use(async (ctx, next) => {
    if (hsts) ctx.set('Strict-Transport-Security', hsts);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'same-origin');
    ctx.set('X-Frame-Options', 'DENY');
    await next();
  });
  app.use(refuseIllFormedInput());
  app.use(
    serveWebApp(
      path.join(root, 'web', 'dist'),
      API_PATHS,
      new URL(core.config.baseUrl).origin,
      async (ctx) => {
        // On an agency's domain the page names the agency before the app has loaded.
        const theme = await core.branding.themeForHost(ctx.host);
        return theme.branded ? { name: theme.brandName, faviconUrl: theme.faviconUrl } : undefined;
      },
    ),
  );
  app.use(async (ctx, next) => {
    await next();
    // Nothing answered: an API path (or any non-GET) is a problem+json 404; other GETs fall to the web app.
    if (ctx.status === 405 && ctx.body == null)
      throw new PlazaError('PLAZA_METHOD_NOT_ALLOWED', `${ctx.path} does not take ${ctx.method}`, {
        headers: { Allow: String(ctx.response.get('Allow')) },
      });
    if (ctx.status === 404 && ctx.body == null && (API_PATHS.test(ctx.path) || ctx.method !== 'GET'))
      throw new PlazaError('PLAZA_ROUTE_NOT_FOUND', `no route ${ctx.method} ${ctx.path}`);
  });
  // The OAuth provider and Plaza's install pages under /oauth (no body parser in front of them).
  app.use(core.oauth.middleware());
  app.use(authenticate(core.identity));
  app.use(
    rateLimitCallers(
      core.rateLimiter,
      { caller: core.config.rateLimitPerMinute, anonymous: core.config.rateLimitAnonymousPerMinute },
      new Set(core.routes.filter((r) => r.unlimited).map((r) => r.path)),
    ),
  );
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

const DOCS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Plaza API reference</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="docs"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/assets/init.js"></script></body></html>`;

const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#docs', deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis], layout: 'BaseLayout', withCredentials: true });`;
