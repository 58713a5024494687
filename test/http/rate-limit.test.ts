import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import supertest from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { createCore } from '../../server/core.ts';
import { createRateLimiter } from '../../server/http/rate-limit.ts';
import { createTestDatabase, REDIS_URL } from '../helpers/db.ts';
import { startPlaza, type TestPlaza, testConfig } from '../helpers/plaza.ts';
import { deleteRedisPrefix } from '../helpers/redis.ts';
import { signUp, uniqueEmail } from '../helpers/world.ts';

const started: TestPlaza[] = [];
const prefix = `plaza-rl-${randomBytes(4).toString('hex')}`;
afterAll(async () => {
  for (const p of started) await p.close();
  await deleteRedisPrefix(prefix);
});

async function plaza(env: Record<string, string>) {
  const p = await startPlaza({
    PLAZA_RATE_LIMIT_PER_MINUTE: '3',
    PLAZA_RATE_LIMIT_ANONYMOUS_PER_MINUTE: '2',
    ...env,
  });
  started.push(p);
  return p;
}

describe('rate limits per caller', () => {
  it('answers 429 with Retry-After and RateLimit-* headers past the limit, per caller', async () => {
    const p = await plaza({});
    const ann = await signUp(p);
    const bob = await signUp(p);
    // signUp's own request counted against Ann's IP, not her person: three calls as Ann pass.
    for (let i = 0; i < 3; i++) {
      const ok = await ann.agent.get('/v1/me').expect(200);
      expect(ok.headers['ratelimit-limit']).toBe('3');
      expect(ok.headers['ratelimit-remaining']).toBe(String(2 - i));
    }
    const refused = await ann.agent.get('/v1/me').expect(429);
    expect(refused.body.code).toBe('PLAZA_RATE_LIMITED');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(refused.headers['ratelimit-remaining']).toBe('0');
    // Bob has a budget of his own.
    await bob.agent.get('/v1/me').expect(200);
  });

  it('limits anonymous callers by address, and leaves health checks alone', async () => {
    const p = await plaza({});
    await p.http.get('/v1/marketplace-nothing').expect(404);
    await p.http.get('/v1/marketplace-nothing').expect(404);
    const refused = await p.http.get('/v1/marketplace-nothing').expect(429);
    expect(refused.body.code).toBe('PLAZA_RATE_LIMITED');
    for (let i = 0; i < 5; i++) await p.http.get('/healthz').expect(200);
  });

  it('leaves routes declared unlimited (Stripe webhooks, signature-checked first) out of the budget', async () => {
    const p = await plaza({});
    // Past the anonymous budget of 2, every unsigned delivery is still read and refused for its signature.
    for (let i = 0; i < 4; i++) {
      const res = await p.http
        .post('/v1/payments/stripe/webhook')
        .set('content-type', 'application/json')
        .send('{}');
      expect(res.status).not.toBe(429);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.headers['ratelimit-limit']).toBeUndefined();
    }
    await p.http.get('/v1/marketplace-nothing').expect(404);
    await p.http.get('/v1/marketplace-nothing').expect(404);
    await p.http.get('/v1/marketplace-nothing').expect(429);
  });

  it('shares one budget across API processes through Redis', async () => {
    // Two cores on one database and one Redis: two API processes of one installation.
    const database = await createTestDatabase();
    const env = { REDIS_URL, REDIS_PREFIX: prefix, PLAZA_RATE_LIMIT_PER_MINUTE: '3' };
    const cores = [
      await createCore(testConfig(env), { db: database.db }),
      await createCore(testConfig(env), { db: database.db }),
    ];
    try {
      const [a, b] = cores.map((c) => supertest(createApp(c).callback()));
      const res = await a
        .post('/v1/auth/signup')
        .send({ name: 'Rae', email: uniqueEmail(), password: 'a long enough password' });
      const cookie = (res.headers['set-cookie'] as unknown as string[])
        .map((c) => c.split(';')[0])
        .join('; ');
      await a.get('/v1/me').set('Cookie', cookie).expect(200);
      await b.get('/v1/me').set('Cookie', cookie).expect(200);
      await a.get('/v1/me').set('Cookie', cookie).expect(200);
      const refused = await b.get('/v1/me').set('Cookie', cookie).expect(429);
      expect(refused.body.code).toBe('PLAZA_RATE_LIMITED');
    } finally {
      for (const c of cores) await c.close(1000);
      await database.drop();
    }
  });

  it('spends several budgets at once (an installation and its app), each counted as alone', async () => {
    const redis = new Redis(REDIS_URL);
    try {
      for (const limiter of [createRateLimiter(redis, prefix), createRateLimiter(undefined, prefix)]) {
        const inst = `inst:${randomBytes(4).toString('hex')}`;
        const app = `app:${randomBytes(4).toString('hex')}`;
        await limiter.hit(app, 3, 60_000);
        const first = await limiter.hitAll(
          [
            { key: inst, limit: 2 },
            { key: app, limit: 3 },
          ],
          60_000,
        );
        expect(first.map((r) => [r.allowed, r.limit, r.remaining])).toEqual([
          [true, 2, 1],
          [true, 3, 1],
        ]);
        const second = await limiter.hitAll(
          [
            { key: inst, limit: 2 },
            { key: app, limit: 3 },
          ],
          60_000,
        );
        expect(second.map((r) => [r.allowed, r.remaining])).toEqual([
          [true, 0],
          [true, 0],
        ]);
        const third = await limiter.hitAll([{ key: inst, limit: 2 }], 60_000);
        expect(third.map((r) => r.allowed)).toEqual([false]);
        expect((await limiter.hit(app, 3, 60_000)).allowed).toBe(false);
        expect(second.every((r) => r.resetMs > 0 && r.resetMs <= 60_000)).toBe(true);
      }
      // Every Redis key the limiter wrote expires with its window.
      const keys = await redis.keys(`${prefix}:ratelimit:*`);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) expect(await redis.pttl(key)).toBeGreaterThan(0);
    } finally {
      await redis.quit();
    }
  });
});
