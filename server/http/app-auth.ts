import type { Context } from 'koa';
import { PlazaError } from '../errors.ts';
import type { Organization } from '../modules/organizations/index.ts';
import { type AppContext, makeAppContext } from '../tenancy.ts';
import { actorOf, type Caller } from './auth.ts';
import { applyRateLimit, type RateLimiter } from './rate-limit.ts';
import type { Access } from './route.ts';

/**
 * Apps calling the Plaza API with OAuth access tokens: `app` routes (an
 * installation's token, bound to one account) and `app_client` routes (a
 * client-credentials token, the app itself). The token is a JWT checked
 * locally by the OAuth module (`verifyAccessToken`: signature, audience,
 * expiry, revoked installations); this file turns it into the handler's
 * context, refuses the wrong kind of caller, enforces the route's scope and
 * the per-installation and per-app rate limits.
 */
export interface VerifiedAccessToken {
  /** The account (organization) of the installation; null for client-credentials tokens. */
  accountId: string | null;
  appId: string;
  installationId: string | null;
  clientId: string;
  scopes: string[];
}

export type VerifyAccessToken = (token: string) => Promise<VerifiedAccessToken | null>;

/** The app on `app_client` routes. */
export interface AppClient {
  readonly appId: string;
  readonly clientId: string;
  readonly scopes: readonly string[];
}

export interface AppAuthDeps {
  /** The OAuth module's verifier; without one, no token is valid. */
  verifyAccessToken?: VerifyAccessToken;
  /** Organization by id, without an access check (the token already names the account). */
  organizationById: (id: string) => Promise<Organization | undefined>;
  limiter: RateLimiter;
  /** Told of every call with a valid app token, and whether the rate limit refused it (dashboards count them). */
  onCall?: (appId: string, limited: boolean) => void;
  limits: {
    /** Requests per minute of one installation (one account's use of an app). */
    perInstallation: number;
    /** Requests per minute of one app across all its installations and client-credentials calls. */
    perApp: number;
    /** Requests per minute of one IP address sending tokens that are not valid. */
    anonymous: number;
  };
}

const REALM = 'Plaza API';
/** RFC 6750 b64token. */
const BEARER = /^Bearer\s+([A-Za-z0-9\-._~+/]+=*)\s*$/i;

/** The bearer token of the request, if it sent one that is not a personal API key. */
export function appBearerOf(ctx: Context): string | undefined {
  const match = BEARER.exec(ctx.get('authorization'));
  if (!match || match[1].startsWith('plz_key_')) return undefined;
  return match[1];
}

const quote = (s: string) => s.replace(/["\\]/g, '');

function unauthenticated(detail: string, error?: 'invalid_token' | 'invalid_request'): PlazaError {
  const params = [`realm="${REALM}"`];
  if (error) params.push(`error="${error}"`, `error_description="${quote(detail)}"`);
  return new PlazaError('PLAZA_UNAUTHENTICATED', detail, {
    headers: { 'WWW-Authenticate': `Bearer ${params.join(', ')}` },
  });
}

export function scopeMissing(scope: string, granted: readonly string[]): PlazaError {
  return new PlazaError(
    'PLAZA_SCOPE_MISSING',
    `this needs the scope ${scope}, which the access token does not carry`,
    {
      fields: [{ field: 'scope', reason: `${scope} is required` }],
      extra: { requiredScope: scope, grantedScopes: [...granted] },
      headers: {
        'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", scope="${scope}", error_description="the token lacks ${scope}"`,
      },
    },
  );
}

export function createAppAuthenticator(deps: AppAuthDeps) {
  // Accounts by id for a few seconds: the hot path reads no table for a token's account.
  const accounts = new Map<string, { org: Organization; until: number }>();
  const ACCOUNT_CACHE_MS = 10_000;

  async function account(id: string): Promise<Organization | undefined> {
    const now = Date.now();
    const hit = accounts.get(id);
    if (hit && hit.until > now) return hit.org;
    const org = await deps.organizationById(id);
    if (!org) return undefined;
    if (accounts.size > 10_000) accounts.clear();
    accounts.set(id, { org, until: now + ACCOUNT_CACHE_MS });
    return org;
  }

  async function limit(ctx: Context, keys: Array<[string, number]>, appId?: string) {
    // Every budget in one round trip (Redis: one MULTI).
    const results = await deps.limiter.hitAll(
      keys.map(([key, max]) => ({ key, limit: max })),
      60_000,
    );
    // Report the tightest budget; refuse when any is spent.
    const refused = results.find((r) => !r.allowed);
    if (appId) deps.onCall?.(appId, Boolean(refused));
    applyRateLimit(ctx, refused ?? results.reduce((a, b) => (b.remaining < a.remaining ? b : a)));
  }

  return {
    /**
     * Checks the caller of an `app` or `app_client` route; returns the
     * handler's context. Throws 401 (with `WWW-Authenticate`), 403 or 429.
     */
    async authenticate(
      ctx: Context,
      access: Extract<Access, { kind: 'app' | 'app_client' }>,
    ): Promise<{ app?: AppContext; client?: AppClient }> {
      const caller = ctx.state.caller as Caller | undefined;
      if (caller)
        throw unauthenticated(
          caller.via === 'api_key'
            ? 'this route is for apps: send an OAuth access token, not a personal API key'
            : 'this route is for apps: send an OAuth access token as a Bearer token (sessions are for the web app)',
          'invalid_request',
        );
      const token = appBearerOf(ctx);
      if (!token) {
        if (ctx.get('authorization'))
          throw unauthenticated(
            'send the access token as "Authorization: Bearer <token>"',
            'invalid_request',
          );
        throw unauthenticated('this route is for apps: send an OAuth access token as a Bearer token');
      }
      const verified = deps.verifyAccessToken ? await deps.verifyAccessToken(token) : null;
      if (!verified) {
        // A bad token costs the caller's address, like an anonymous request.
        await limit(ctx, [[`ip:${ctx.ip}`, deps.limits.anonymous]]);
        throw unauthenticated('the access token is invalid, expired or revoked', 'invalid_token');
      }

      if (access.kind === 'app_client') {
        if (verified.accountId)
          throw new PlazaError(
            'PLAZA_FORBIDDEN',
            "this route is for the app itself: use a client-credentials token, not an installation's token",
          );
        await limit(ctx, [[`app:${verified.appId}`, deps.limits.perApp]], verified.appId);
        return { client: { appId: verified.appId, clientId: verified.clientId, scopes: verified.scopes } };
      }

      if (!verified.accountId || !verified.installationId)
        throw new PlazaError(
          'PLAZA_FORBIDDEN',
          "a client-credentials token acts for the app itself; account data needs an installation's access token (authorization code)",
        );
      await limit(
        ctx,
        [
          [`inst:${verified.installationId}`, deps.limits.perInstallation],
          [`app:${verified.appId}`, deps.limits.perApp],
        ],
        verified.appId,
      );
      if (access.scope && !verified.scopes.includes(access.scope))
        throw scopeMissing(access.scope, verified.scopes);
      const org = await account(verified.accountId);
      if (org?.kind !== 'account')
        throw unauthenticated('the account of this access token no longer exists', 'invalid_token');
      return {
        app: makeAppContext(
          actorOf(ctx),
          { id: org.id, kind: org.kind, name: org.name, parentId: org.parentId },
          {
            appId: verified.appId,
            installationId: verified.installationId,
            clientId: verified.clientId,
            scopes: verified.scopes,
          },
        ),
      };
    },
  };
}

export type AppAuthenticator = ReturnType<typeof createAppAuthenticator>;
