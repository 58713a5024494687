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
  /** One hit on each key (an installation's and its app's budgets), in one round trip; results in order. */
  hitAll(
    budgets: ReadonlyArray<{ key: string; limit: number }>,
    windowMs: number,
  ): Promise<RateLimitResult[]>;
}

/**
 * INCR and PEXPIRE of every key in KEYS (ARGV[1]: the window in ms), atomically
 * as any script runs; returns the counts in order.
 */
const HIT_SCRIPT = `local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call('INCR', key)
  redis.call('PEXPIRE', key, ARGV[1])
end
return counts`;

type ScriptedRedis = Redis & {
  plazaRateLimitHit(keys: number, ...args: Array<string | number>): Promise<number[]>;
};

/**
 * On Redis, so every API process shares one budget per caller: every budget a
 * request spends in one script call (EVALSHA), one round trip and a third of
 * the client CPU of a MULTI of INCR and PEXPIRE per key. Without Redis there
 * is one process (PGlite), and the counts live in its memory.
 */
export function createRateLimiter(redis: Redis | undefined, prefix: string): RateLimiter {
  const result = (count: number, limit: number, window: number, windowMs: number): RateLimitResult => ({
    allowed: count <= limit,
    limit,
    remaining: Math.max(0, limit - count),
    resetMs: (window + 1) * windowMs - Date.now(),
  });
  if (redis) {
    const scripted = redis as ScriptedRedis;
    // ioredis sends EVALSHA, and the script itself once after a NOSCRIPT (a restarted Redis).
    if (typeof scripted.plazaRateLimitHit !== 'function')
      redis.defineCommand('plazaRateLimitHit', { lua: HIT_SCRIPT });
    const hitAll: RateLimiter['hitAll'] = async (budgets, windowMs) => {
      const window = Math.floor(Date.now() / windowMs);
      const keys = budgets.map(({ key }) => `${prefix}:ratelimit:${key}:${window}`);
      const counts = await scripted.plazaRateLimitHit(keys.length, ...keys, windowMs);
      return budgets.map(({ limit }, i) => result(Number(counts[i]), limit, window, windowMs));
    };
    return {
      hitAll,
      hit: async (key, limit, windowMs) => (await hitAll([{ key, limit }], windowMs))[0],
    };
  }
  const counts = new Map<string, { window: number; count: number }>();
  const hitOne = (key: string, limit: number, windowMs: number) => {
    const window = Math.floor(Date.now() / windowMs);
    const entry = counts.get(key);
    const current = entry && entry.window === window ? entry : { window, count: 0 };
    current.count++;
    counts.set(key, current);
    if (counts.size > 100_000) for (const [k, v] of counts) if (v.window !== window) counts.delete(k);
    return result(current.count, limit, window, windowMs);
  };
  return {
    hit: async (key, limit, windowMs) => hitOne(key, limit, windowMs),
    hitAll: async (budgets, windowMs) => budgets.map(({ key, limit }) => hitOne(key, limit, windowMs)),
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
