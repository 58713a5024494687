import type { Context, Next } from 'koa';
import type { Config } from '../config.ts';
import { PlazaError } from '../errors.ts';
import type { IdentityService, Session, User } from '../modules/identity/index.ts';
import type { Actor, Role } from '../tenancy.ts';

export const SESSION_COOKIE = 'plaza_session';

/**
 * The session cookie, written and read in one place for the API and the
 * OAuth pages: httpOnly, SameSite=Lax, Secure on an https Plaza, and signed
 * with the app's keys (PLAZA_SECRET), its signature checked on every read.
 */
export const sessionCookie = {
  read: (ctx: Context): string | undefined => ctx.cookies.get(SESSION_COOKIE, { signed: true }),
  write(ctx: Context, config: Pick<Config, 'baseUrl' | 'sessionTtlHours'>, token: string): void {
    ctx.cookies.set(SESSION_COOKIE, token, {
      httpOnly: true,
      sameSite: 'lax',
      secure: config.baseUrl.startsWith('https:') && ctx.secure,
      maxAge: config.sessionTtlHours * 3_600_000,
      overwrite: true,
      path: '/',
      signed: true,
    });
  },
  clear(ctx: Context): void {
    ctx.cookies.set(SESSION_COOKIE, null, {
      httpOnly: true,
      sameSite: 'lax',
      overwrite: true,
      path: '/',
      signed: true,
    });
  },
};

/** The authenticated caller of a request. */
export interface Caller {
  user: User;
  via: 'session' | 'api_key';
  session?: Session;
  apiKey?: { id: string; organizationId: string; role: Role };
}

export function actorOf(ctx: Context): Actor {
  const caller = ctx.state.caller as Caller | undefined;
  return {
    userId: caller?.user.id ?? null,
    email: caller?.user.email ?? null,
    platformRole: caller?.user.platformRole ?? null,
    apiKeyId: caller?.apiKey?.id,
    ip: ctx.ip || null,
    requestId: ctx.state.requestId ?? null,
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Cookie callers must send their session's CSRF token in `x-csrf-token` on
 * every state-changing request; API-key callers need not (a browser never
 * attaches an Authorization header by itself).
 */
export function checkCsrf(ctx: Context, identity: IdentityService): void {
  const caller = ctx.state.caller as Caller | undefined;
  if (!caller?.session || SAFE_METHODS.has(ctx.method)) return;
  if (!identity.csrfMatches(caller.session, ctx.get('x-csrf-token') || undefined))
    throw new PlazaError('PLAZA_CSRF', 'send the csrfToken from /v1/me in the x-csrf-token header');
}

/** Finds the caller from `Authorization: Bearer plz_key_...` or the session cookie. */
export function authenticate(identity: IdentityService) {
  return async (ctx: Context, next: Next) => {
    if (!ctx.path.startsWith('/v1/')) return next();
    const header = ctx.get('authorization');
    if (header) {
      const match = /^Bearer\s+(plz_key_[A-Za-z0-9_-]+)$/.exec(header);
      if (match) {
        const principal = await identity.authenticateApiKey(match[1]);
        if (!principal) throw new PlazaError('PLAZA_UNAUTHENTICATED', 'API key unknown or revoked');
        ctx.state.caller = {
          user: principal.user,
          via: 'api_key',
          apiKey: { id: principal.keyId, organizationId: principal.organizationId, role: principal.role },
        } satisfies Caller;
      }
      // Other bearer tokens (OAuth access tokens) are for the routes that check them.
    } else {
      const token = sessionCookie.read(ctx);
      if (token) {
        const found = await identity.authenticateSession(token);
        if (found)
          ctx.state.caller = { user: found.user, via: 'session', session: found.session } satisfies Caller;
      }
    }
    await next();
  };
}
