import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { signUp } from '../helpers/world.ts';

let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza({ PLAZA_BODY_LIMIT_BYTES: '2048' });
});
afterAll(() => plaza.close());

const isProblem = (res: { headers: Record<string, string>; body: any }, code: string, status: number) => {
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({
    code,
    status,
    type: expect.stringMatching(/^https:\/\//),
    title: expect.any(String),
  });
  expect(res.body.requestId).toBe(res.headers['x-request-id']);
  expect(JSON.stringify(res.body)).not.toMatch(/at .*\.ts:\d+/); // no stack frames
};

describe('errors are problem+json, never 500, for bad requests', () => {
  it('unknown API route: 404', async () => {
    const res = await plaza.http.get('/v1/nothing-here').expect(404);
    isProblem(res, 'PLAZA_ROUTE_NOT_FOUND', 404);
  });

  it('wrong method on a known route: 405 with Allow', async () => {
    const res = await plaza.http.put('/v1/auth/login').send({}).expect(405);
    isProblem(res, 'PLAZA_METHOD_NOT_ALLOWED', 405);
    expect(res.headers.allow).toMatch(/POST/);
  });

  it('malformed JSON: 400', async () => {
    const res = await plaza.http
      .post('/v1/auth/login')
      .set('Content-Type', 'application/json')
      .send('{"email": ')
      .expect(400);
    isProblem(res, 'PLAZA_BAD_JSON', 400);
  });

  it('wrong content type: 415', async () => {
    const res = await plaza.http
      .post('/v1/auth/login')
      .set('Content-Type', 'text/plain')
      .send('email=a')
      .expect(415);
    isProblem(res, 'PLAZA_UNSUPPORTED_MEDIA_TYPE', 415);
    const form = await plaza.http
      .post('/v1/auth/login')
      .type('form')
      .send({ email: 'a@b.c', password: 'x' })
      .expect(415);
    isProblem(form, 'PLAZA_UNSUPPORTED_MEDIA_TYPE', 415);
  });

  it('oversized body: 413', async () => {
    const res = await plaza.http
      .post('/v1/auth/signup')
      .send({ name: 'x'.repeat(5000), email: 'big@example.test', password: 'long enough password' })
      .expect(413);
    isProblem(res, 'PLAZA_PAYLOAD_TOO_LARGE', 413);
    const none = await plaza.core.db.maybeOne("SELECT 1 FROM users WHERE email = 'big@example.test'");
    expect(none).toBeUndefined();
  });

  it('a JSON array or a string where an object belongs: 400 with the field', async () => {
    const res = await plaza.http.post('/v1/auth/login').send([1, 2]).expect(400);
    isProblem(res, 'PLAZA_VALIDATION', 400);
    const str = await plaza.http
      .post('/v1/auth/login')
      .set('Content-Type', 'application/json')
      .send('"hi"')
      .expect(400);
    isProblem(str, 'PLAZA_VALIDATION', 400);
  });

  it('bad query parameters: 400 naming the parameter', async () => {
    const who = await signUp(plaza);
    const res = await who.agent.get('/v1/me/audit-log?limit=5000').expect(400);
    isProblem(res, 'PLAZA_VALIDATION', 400);
    expect(res.body.fields[0].field).toBe('query.limit');
  });

  it('keeps a sane caller request id and makes one otherwise', async () => {
    const mine = await plaza.http.get('/healthz').set('X-Request-Id', 'trace-1234abcd').expect(200);
    expect(mine.headers['x-request-id']).toBe('trace-1234abcd');
    const evil = await plaza.http.get('/healthz').set('X-Request-Id', 'bad id with spaces').expect(200);
    expect(evil.headers['x-request-id']).toMatch(/^req_/);
  });
});

/** A stream a logger writes to, and the JSON lines it received. */
function lineSink() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
  return { lines, sink };
}

describe('logs', () => {
  it('are JSON lines with the request id and no secrets', async () => {
    const { lines, sink } = lineSink();
    const { createLogger } = await import('../../server/logger.ts');
    const log = createLogger('info', sink as any);
    const { requestContext } = await import('../../server/logger.ts');
    requestContext.run({ requestId: 'req_abc' }, () => {
      log.info(
        {
          password: 'hunter22',
          body: { token: 'tok_secret', nested: { secret: 's3' } },
          authorization: 'Bearer x',
        },
        'hello',
      );
    });
    await new Promise((r) => setTimeout(r, 10));
    const entry = JSON.parse(lines[0]);
    expect(entry).toMatchObject({
      msg: 'hello',
      requestId: 'req_abc',
      password: '[redacted]',
      authorization: '[redacted]',
    });
    expect(lines[0]).not.toContain('hunter22');
    expect(lines[0]).not.toContain('tok_secret');
    expect(lines[0]).not.toContain('s3');
  });
});

describe('request lines', () => {
  it('one per request with method, path, status, time and request id; errors logged redacted', async () => {
    const { lines, sink } = lineSink();
    const { createLogger } = await import('../../server/logger.ts');
    const { requestLifecycle } = await import('../../server/http/problem.ts');
    const Koa = (await import('koa')).default;
    const supertest = (await import('supertest')).default;
    const app = new Koa();
    app.use(requestLifecycle(createLogger('info', sink as any)));
    app.use(async (ctx) => {
      if (ctx.path === '/boom') throw Object.assign(new Error('database said no'), { password: 'hunter22' });
      ctx.body = { ok: true };
    });
    const http = supertest(app.callback());
    await http.get('/fine?x=1').set('x-request-id', 'req_line_fine').expect(200);
    await http.post('/boom').set('x-request-id', 'req_line_boom').expect(500);
    await new Promise((r) => setTimeout(r, 10));
    const entries = lines.map((l) => JSON.parse(l));
    const requests = entries.filter((e) => e.msg === 'request');
    expect(requests).toEqual([
      expect.objectContaining({
        level: 30,
        service: 'plaza',
        requestId: 'req_line_fine',
        method: 'GET',
        path: '/fine',
        status: 200,
        ms: expect.any(Number),
      }),
      expect.objectContaining({ level: 50, requestId: 'req_line_boom', method: 'POST', status: 500 }),
    ]);
    const unhandled = entries.find((e) => e.msg === 'unhandled error');
    expect(unhandled).toMatchObject({ requestId: 'req_line_boom', err: { password: '[redacted]' } });
    expect(lines.join('\n')).not.toContain('hunter22');
  });
});

describe('health', () => {
  it('/healthz and /readyz answer', async () => {
    await plaza.http.get('/healthz').expect(200, { status: 'ok' });
    const ready = await plaza.http.get('/readyz').expect(200);
    expect(ready.body).toMatchObject({
      status: 'ready',
      checks: { database: 'ok', jobs: 'ok', modules: 'ok' },
    });
  });

  it('/readyz answers 503 when what a module makes after listening could not be made', async () => {
    // The OAuth provider is built by warm() once the server listens; a provider that cannot be
    // built (a bad setting) used to refuse the start, and must still take the process out of rotation.
    const oauth = plaza.core.oauth as { warm: () => void };
    const warm = oauth.warm;
    oauth.warm = () => {
      throw new Error('issuer is not a valid URL');
    };
    try {
      await plaza.core.warm();
      const res = await plaza.http.get('/readyz').expect(503);
      expect(res.body).toMatchObject({
        status: 'not ready',
        checks: { database: 'ok', jobs: 'ok', modules: 'failing: oauth: issuer is not a valid URL' },
      });
    } finally {
      oauth.warm = warm;
    }
  });
});
