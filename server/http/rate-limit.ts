import type { Redis } from 'ioredis';
import type { Context, Next } from 'koa';
import { PlazaError } from '../errors.ts';
import type { Caller } from './auth.ts';

export interface RateLimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Milliseconds until the window resets. */
  resetMs: number;
}

/** Counts hits per key in fixed windows. */
export interface RateLimiter {
  hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult>;
}

/**
 * On Redis, so every API process shares one budget per caller (INCR and
 * PEXPIRE in one round trip). Without Redis there is one process (PGlite),
 * and the counts live in its memory.
 */
export function createRateLimiter(redis: Redis | undefined, prefix: string): RateLimiter {
  if (redis) {
    return {
      async hit(key, limit, windowMs) {
        const window = Math.floor(Date.now() / windowMs);
        const redisKey = `${prefix}:ratelimit:${key}:${window}`;
        const [[, count]] = (await redis.multi().incr(redisKey).pexpire(redisKey, windowMs).exec()) as [
          [null, number],
          [null, number],
        ];
        const resetMs = (window + 1) * windowMs - Date.now();
        return { allowed: count <= limit, limit, remaining: Math.max(0, limit - count), resetMs };
      },
    };
  }
  const counts = new Map<string, { window: number; count: number }>();
  return {
    async hit(key, limit, windowMs) {
      const window = Math.floor(Date.now() / windowMs);
      const entry = counts.get(key);
      const current = entry && entry.window === window ? entry : { window, count: 0 };
      current.count++;
      counts.set(key, current);
      if (counts.size > 100_000) for (const [k, v] of counts) if (v.window !== window) counts.delete(k);
      const resetMs = (window + 1) * windowMs - Date.now();
      return {
        allowed: current.count <= limit,
        limit,
        remaining: Math.max(0, limit - current.count),
        resetMs,
      };
    },
  };
}

/** Writes the RateLimit-* headers (IETF draft) and refuses with 429 + Retry-After past the limit. */
export function applyRateLimit(ctx: Context, result: RateLimitResult): void {
  const resetSeconds = Math.max(1, Math.ceil(result.resetMs / 1000));
  ctx.set('RateLimit-Limit', String(result.limit));
  ctx.set('RateLimit-Remaining', String(result.remaining));
  ctx.set('RateLimit-Reset', String(resetSeconds));
  if (!result.allowed)
    throw new PlazaError('PLAZA_RATE_LIMITED', `rate limit of ${result.limit} requests per minute reached`, {
      headers: { 'Retry-After': String(resetSeconds) },
    });
}

/**
 * Per-caller limit on /v1: an API key, a signed-in person, or (anonymous) an IP
 * address each get their own budget per minute. A request with an app's
 * bearer token (not a personal API key) is left to the router: app routes
 * limit it per installation and per app once the token is verified, other
 * routes count it as anonymous (`ctx.state.rateLimitDeferred`).
 */
export function rateLimitCallers(
  limiter: RateLimiter,
  perMinute: { caller: number; anonymous: number },
  /** Paths of routes declared `unlimited` (signed deliveries, checked before any work). */
  unlimitedPaths: ReadonlySet<string> = new Set(),
) {
  return async (ctx: Context, next: Next) => {
    if (!ctx.path.startsWith('/v1/')) return next();
    if (unlimitedPaths.has(ctx.path)) return next();
    const caller = ctx.state.caller as Caller | undefined;
    if (!caller && /^Bearer\s+(?!plz_key_)\S/i.test(ctx.get('authorization'))) {
      ctx.state.rateLimitDeferred = true;
      return next();
    }
    const key = caller?.apiKey
      ? `key:${caller.apiKey.id}`
      : caller
        ? `user:${caller.user.id}`
        : `ip:${ctx.ip}`;
    const limit = caller ? perMinute.caller : perMinute.anonymous;
    applyRateLimit(ctx, await limiter.hit(key, limit, 60_000));
    await next();
  };
}
