import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { PlazaError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import {
  type IdempotencyService,
  parseIdempotencyKey,
  REPLAYED_HEADER,
} from '../modules/idempotency/index.ts';
import type { IdentityService } from '../modules/identity/index.ts';
import type { OrganizationsService } from '../modules/organizations/index.ts';
import type { ScopeCatalog } from '../scopes.ts';
import { ROLE_RANK } from '../tenancy.ts';
import { type AppAuthenticator, appBearerOf } from './app-auth.ts';
import { actorOf, type Caller, checkCsrf } from './auth.ts';
import { readJsonBody } from './body.ts';
import { applyRateLimit, type RateLimiter } from './rate-limit.ts';
import { type AnyRoute, fieldErrors, parseInput } from './route.ts';

export interface MountDeps {
  identity: IdentityService;
  organizations: OrganizationsService;
  bodyLimitBytes: number;
  /** Checks the callers of `app` and `app_client` routes (OAuth access tokens). */
  apps: AppAuthenticator;
  /** Every scope an `app` route declares must exist here (checked when mounting). */
  scopes: ScopeCatalog;
  /**
   * Requests with an app's bearer token skip the per-caller limit middleware
   * (`rateLimitCallers`); on routes that are not for apps they count as anonymous.
   */
  anonymousLimit: { limiter: RateLimiter; perMinute: number };
  /** Keeps and replays the answers of `idempotent` routes (required when one is mounted). */
  idempotency?: IdempotencyService;
  /**
   * Parse every answer against the route's `response` schema; a mismatch is
   * 500 PLAZA_RESPONSE_CONTRACT with the zod issues in the log (on in tests).
   */
  checkResponses?: boolean;
  log?: Logger;
}

const EMPTY = z.object({});

/** Mounts declared routes on a router: access, CSRF, input validation, then the handler. */
export function mountRoutes(router: Router, routes: AnyRoute[], deps: MountDeps): void {
  for (const route of routes) {
    // Raw-body routes are refused too: the router never reads their body, so it could not tell two apart.
    if (
      route.idempotent &&
      (route.method === 'get' || route.access.kind === 'public' || route.rawBody || !deps.idempotency)
    )
      throw new Error(
        `route ${route.method.toUpperCase()} ${route.path} cannot be idempotent: keys belong to a signed-in caller's writes, kept by the idempotency module`,
      );
    // The limiter runs before routing and matches `unlimited` paths exactly.
    if (route.unlimited && route.path.includes(':'))
      throw new Error(
        `route ${route.method.toUpperCase()} ${route.path} can be unlimited only on a fixed path`,
      );
    const declared = route.access.kind === 'app' ? route.access.scope : null;
    if (declared && !deps.scopes.get(declared))
      throw new Error(
        `route ${route.method.toUpperCase()} ${route.path} needs the unknown scope ${declared}`,
      );
    router[route.method](route.path, async (ctx: Context) => {
      const caller = (ctx.state.caller as Caller | undefined) ?? null;
      const access = route.access;
      let app: any;
      let client: any;
      if (access.kind === 'app' || access.kind === 'app_client') {
        ({ app, client } = await deps.apps.authenticate(ctx, access));
      } else {
        if (ctx.state.rateLimitDeferred) {
          const { limiter, perMinute } = deps.anonymousLimit;
          applyRateLimit(ctx, await limiter.hit(`ip:${ctx.ip}`, perMinute, 60_000));
        }
        if (!caller && access.kind !== 'public')
          throw new PlazaError(
            'PLAZA_UNAUTHENTICATED',
            appBearerOf(ctx)
              ? 'OAuth access tokens are for the app API (routes with oauth2 security in /openapi.json); this route takes a session or a personal API key (plz_key_...)'
              : 'sign in, or send an API key as a Bearer token',
          );
      }
      if (caller && access.kind !== 'public' && access.kind !== 'app' && access.kind !== 'app_client') {
        if (caller.via === 'api_key' && route.apiKeys === false)
          throw new PlazaError('PLAZA_FORBIDDEN', 'this route is for signed-in people, not API keys');
        checkCsrf(ctx, deps.identity);
      }
      const params = parseInput('path', route.params ?? EMPTY, ctx.params);
      const query = parseInput('query', route.query ?? EMPTY, ctx.query);
      const actor = actorOf(ctx);
      let org: any;
      if (access.kind === 'org') {
        org = await deps.organizations.resolveContext(actor, String(ctx.params.orgId), caller!.apiKey);
        if (access.orgKinds && !access.orgKinds.includes(org.org.kind))
          throw new PlazaError(
            'PLAZA_FORBIDDEN',
            `this is for ${access.orgKinds.join(' or ')} organizations`,
          );
        if (access.minRole && ROLE_RANK[org.role as keyof typeof ROLE_RANK] < ROLE_RANK[access.minRole])
          throw new PlazaError('PLAZA_FORBIDDEN', `this needs the ${access.minRole} role or higher`);
      } else if (access.kind === 'platform') {
        // A platform admin may do everything a reviewer may.
        const role = caller!.user.platformRole;
        if (!role || caller!.apiKey || !(role === 'admin' || access.roles.includes(role)))
          throw new PlazaError(
            'PLAZA_FORBIDDEN',
            `this needs the platform role ${access.roles.join(' or ')}`,
          );
      }
      const raw =
        !route.rawBody && (route.body || ctx.method !== 'GET')
          ? await readJsonBody(ctx, deps.bodyLimitBytes)
          : undefined;
      const body = route.body ? parseInput('body', route.body, raw ?? {}) : undefined;
      const run = async () => {
        const result = await route.handler({ params, query, body, ctx, caller, actor, org, app, client });
        // The handler wrote its own response (kept as is unless it has to be stored).
        if (ctx.body !== undefined && ctx.body !== null)
          return { status: ctx.status, body: ctx.body, own: true };
        if (deps.checkResponses && route.response && result !== undefined) checkResponse(route, result);
        return { status: route.status ?? (result === undefined ? 204 : 200), body: result };
      };
      const key = route.idempotent ? parseIdempotencyKey(ctx.get('idempotency-key')) : undefined;
      let answer: { status: number; body: unknown; own?: boolean };
      if (key) {
        const scope = app
          ? `installation:${app.app.installationId}`
          : client
            ? `app:${client.appId}`
            : `user:${caller!.user.id}`;
        const done = await deps.idempotency!.run(
          { scope, key, method: ctx.method, path: ctx.path, body: raw },
          run,
        );
        answer = done.response;
        if (done.replayed) ctx.set(REPLAYED_HEADER, 'true');
      } else answer = await run();
      if (answer.own) return;
      ctx.status = answer.status;
      if (answer.body !== undefined && answer.body !== null) ctx.body = answer.body;
    });
  }

  function checkResponse(route: AnyRoute, result: unknown) {
    const parsed = route.response!.safeParse(JSON.parse(JSON.stringify(result)));
    if (parsed.success) return;
    const issues = fieldErrors('response', parsed.error);
    deps.log?.error(
      { route: `${route.method.toUpperCase()} ${route.path}`, issues },
      'response does not match its declared schema',
    );
    throw new PlazaError(
      'PLAZA_RESPONSE_CONTRACT',
      `${route.method.toUpperCase()} ${route.path}: ${issues.map((i) => `${i.field}: ${i.reason}`).join('; ')}`,
    );
  }
}
