import Router from '@koa/router';
import Koa from 'koa';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../server/config.ts';
import { createAppAuthenticator } from '../../server/http/app-auth.ts';
import { requestLifecycle } from '../../server/http/problem.ts';
import { createRateLimiter } from '../../server/http/rate-limit.ts';
import { type AnyRoute, defineRoute } from '../../server/http/route.ts';
import { mountRoutes } from '../../server/http/router.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { captureLog } from '../plugins/harness.ts';

/**
 * The response contract: under vitest every answer is parsed against its
 * route's `response` schema, so a handler that drifts from what the OpenAPI
 * document promises fails the test that called it (500 PLAZA_RESPONSE_CONTRACT,
 * the zod issues in the log).
 */
let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza({}, { workers: false });
});
afterAll(() => plaza?.close());

const Thing = z.object({ id: z.string(), count: z.number().int(), createdAt: z.iso.datetime() });

function appWith(routes: AnyRoute[], checkResponses: boolean) {
  const { log, lines } = captureLog();
  const router = new Router();
  const limiter = createRateLimiter(undefined, 'contract');
  mountRoutes(router, routes, {
    identity: plaza.core.identity,
    organizations: plaza.core.organizations,
    bodyLimitBytes: 1024,
    scopes: plaza.core.scopes,
    apps: createAppAuthenticator({
      verifyAccessToken: async () => undefined as never,
      organizationById: async () => undefined,
      limiter,
      limits: { perInstallation: 1, perApp: 1, anonymous: 1 },
    }),
    anonymousLimit: { limiter, perMinute: 1000 },
    idempotency: plaza.core.idempotency,
    checkResponses,
    log,
  });
  const app = new Koa();
  app.use(requestLifecycle(log));
  app.use(router.routes());
  return { http: supertest(app.callback()), lines };
}

const route = (path: string, body: () => unknown) =>
  defineRoute({
    method: 'get',
    path,
    summary: `Contract ${path}`,
    tag: 'Test',
    access: { kind: 'public' },
    response: Thing,
    // The cast stands for a handler whose types drifted (an `any` from SQL, a stale DTO).
    handler: async () => body() as z.input<typeof Thing>,
  });

describe('response contract', () => {
  it('is on under vitest and off by default elsewhere, and can be set', () => {
    expect(plaza.core.config.checkResponses).toBe(true);
    expect(loadConfig({ PLAZA_CHECK_RESPONSES: 'false' }).checkResponses).toBe(false);
  });

  it('passes an answer that matches, serialized as JSON (a Date is its ISO string)', async () => {
    const { http } = appWith([route('/ok', () => ({ id: 'x', count: 2, createdAt: new Date(0) }))], true);
    const res = await http.get('/ok').expect(200);
    expect(res.body).toEqual({ id: 'x', count: 2, createdAt: '1970-01-01T00:00:00.000Z' });
  });

  it('answers 500 PLAZA_RESPONSE_CONTRACT naming the fields, and logs the issues', async () => {
    const { http, lines } = appWith(
      [route('/drift', () => ({ id: 'x', count: '2', createdAt: 'yesterday' }))],
      true,
    );
    const res = await http.get('/drift').expect(500);
    expect(res.body.code).toBe('PLAZA_RESPONSE_CONTRACT');
    expect(res.body.detail).toMatch(/GET \/drift: response\.count: .*; response\.createdAt: /);
    const line = lines.find((l) => l.msg === 'response does not match its declared schema');
    expect(line?.route).toBe('GET /drift');
    expect(line?.issues.map((i: { field: string }) => i.field)).toEqual([
      'response.count',
      'response.createdAt',
    ]);
  });

  it('lets the same answer through when the check is off (production)', async () => {
    const { http } = appWith(
      [route('/drift', () => ({ id: 'x', count: '2', createdAt: 'yesterday' }))],
      false,
    );
    await http.get('/drift').expect(200);
  });
});
