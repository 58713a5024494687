import type { Context, Next } from 'koa';
import type { RateLimiter } from '../../http/rate-limit.ts';
import { oauthRequest } from './adapter.ts';

/**
 * A rate limit on the token and revocation endpoints, per client. It runs
 * after the client-secret check (client-auth.ts), so a client's budget is
 * counted only for requests that proved to be that client; requests without
 * valid client credentials count against their IP address instead (nobody
 * can spend another app's budget by sending its client id).
 *
 * Past the limit the answer is what OAuth clients understand: 429 with
 * `Retry-After`, `Cache-Control: no-store` and an OAuth error body
 * (`application/json`, RFC 6749 §5.2) `{"error":"slow_down", ...}`. Relying
 * parties such as openid-client only read error bodies of type
 * application/json (problem+json would surface as a protocol error), and
 * `slow_down` is the registered OAuth error for "ask less often" (RFC 8628).
 * Every answer carries the RateLimit-* headers.
 */
export const RATE_LIMITED_PATHS = new Set(['/oauth/token', '/oauth/token/revocation']);

export function tokenRateLimit(opts: {
  limiter: RateLimiter;
  /** Requests per minute of one client (token and revocation together). */
  perClient: () => number;
  /** Requests per minute from one IP address without valid client credentials. */
  perAddress: () => number;
}) {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'POST' || !RATE_LIMITED_PATHS.has(ctx.path)) return next();
    const clientId = oauthRequest.getStore()?.clientId;
    const [key, limit] = clientId
      ? [`oauth:client:${clientId}`, opts.perClient()]
      : [`oauth:ip:${ctx.ip}`, opts.perAddress()];
    const result = await opts.limiter.hit(key, limit, 60_000);
    const resetSeconds = Math.max(1, Math.ceil(result.resetMs / 1000));
    ctx.set('RateLimit-Limit', String(result.limit));
    ctx.set('RateLimit-Remaining', String(result.remaining));
    ctx.set('RateLimit-Reset', String(resetSeconds));
    if (result.allowed) return next();
    ctx.status = 429;
    ctx.set('Retry-After', String(resetSeconds));
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    ctx.body = {
      error: 'slow_down',
      error_description: `too many requests: at most ${result.limit} per minute for this ${clientId ? 'client' : 'address'}; retry after ${resetSeconds} seconds`,
    };
  };
}
