import Router from '@koa/router';
import supertest from 'supertest';
import type TestAgent from 'supertest/lib/agent.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { type Core, createCore } from '../../server/core.ts';
import { connectPostgres, type Db } from '../../server/db/index.ts';
import { createAppAuthenticator } from '../../server/http/app-auth.ts';
import { createRateLimiter } from '../../server/http/rate-limit.ts';
import { type Access, defineRoute, type Method } from '../../server/http/route.ts';
import { mountRoutes } from '../../server/http/router.ts';
import type { OrgContext } from '../../server/tenancy.ts';
import { createTestDatabase, postgresAnswers, type TestDatabase } from '../helpers/db.ts';
import { testConfig } from '../helpers/plaza.ts';
import { type Person, person, registerApp, type TestApp } from '../helpers/world.ts';

/**
 * Idempotency-Key on the agency bulk install (and every route declared
 * `idempotent`), against real PostgreSQL: two Plaza processes' worth of
 * cores on one database, so duplicates also meet across processes.
 */
let database: TestDatabase;
let secondDb: Db;
let core: Core;
let other: Core;
type Callback = ReturnType<ReturnType<typeof createApp>['callback']>;
let http: Callback;
let otherHttp: Callback;
let app: TestApp;
let admin: Person;
let agency: OrgContext;
let subs: string[];

async function signedIn(h: Callback, who: Person) {
  const agent = supertest.agent(h);
  const res = await agent
    .post('/v1/auth/login')
    .send({ email: who.email, password: who.password })
    .expect(200);
  return { agent, csrf: res.body.csrfToken as string };
}

const usePg = await postgresAnswers();

beforeAll(async () => {
  database = await createTestDatabase();
  core = await createCore(testConfig(), { db: database.db });
  await core.startWorkers();
  http = createApp(core).callback();
  if (usePg) {
    // A second process on the same database: its own pool, its own in-memory queue.
    secondDb = connectPostgres(database.url!, 5);
    other = await createCore(testConfig(), { db: secondDb });
    otherHttp = createApp(other).callback();
  }
  app = await registerApp({ core }, { name: 'Review Booster', redirectUris: ['https://rb.example.com/cb'] });
  admin = await person({ core }, 'Ada Agency');
  const ag = await core.organizations.create(admin.actor, { name: 'Bright Agency', kind: 'agency' });
  agency = await core.organizations.resolveContext(admin.actor, ag.id);
  subs = [];
  for (let i = 0; i < 12; i++)
    subs.push((await core.organizations.createSubAccount(agency, { name: `Shop ${i}` })).id);
});

afterAll(async () => {
  await other?.close(2000);
  await secondDb?.close();
  await core?.close(2000);
  await database?.drop();
});

const bulk = (agent: TestAgent, csrf: string, key: string | undefined, body: object) => {
  const req = agent.post(`/v1/organizations/${agency.org.id}/bulk-installs`).set('x-csrf-token', csrf);
  if (key !== undefined) req.set('Idempotency-Key', key);
  return req.send(body);
};

const activeInstalls = async (accountIds: string[]) =>
  (
    await core.db.query(
      "SELECT count(*)::int AS n FROM installations WHERE app_id = $1 AND status = 'active' AND account_id = ANY($2)",
      [app.appId, accountIds],
    )
  )[0].n as number;

describe('Idempotency-Key', () => {
  it('returns the first answer again for the same key and body, marked as a replay', async () => {
    const { agent, csrf } = await signedIn(http, admin);
    const body = { appId: app.appId, subAccountIds: [subs[0], subs[1]] };
    const first = await bulk(agent, csrf, 'key-replay-1', body).expect(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(first.body).toMatchObject({ installed: 2, failed: 0 });

    // Same body with keys in another order is the same request.
    const again = await bulk(agent, csrf, 'key-replay-1', {
      subAccountIds: [subs[0], subs[1]],
      appId: app.appId,
    }).expect(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(again.body.results.map((r: any) => r.status)).toEqual(['installed', 'installed']);

    // Without the key, the retry runs again and finds them installed.
    const fresh = await bulk(agent, csrf, undefined, body).expect(200);
    expect(fresh.body.results.map((r: any) => r.status)).toEqual(['already_installed', 'already_installed']);
    expect(await activeInstalls([subs[0], subs[1]])).toBe(2);
  });

  it('refuses the same key with another body (409 problem+json) and changes nothing', async () => {
    const { agent, csrf } = await signedIn(http, admin);
    await bulk(agent, csrf, 'key-mismatch', { appId: app.appId, subAccountIds: [subs[2]] }).expect(200);
    const res = await bulk(agent, csrf, 'key-mismatch', {
      appId: app.appId,
      subAccountIds: [subs[3]],
    }).expect(409);
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({
      code: 'PLAZA_IDEMPOTENCY_KEY_REUSED',
      status: 409,
      fields: [{ field: 'header.idempotency-key', reason: 'already used for another request' }],
    });
    expect(await activeInstalls([subs[3]])).toBe(0);
  });

  it('keeps keys per caller: another person sending the same key gets their own answer', async () => {
    const rival = await person({ core }, 'Rita Rival');
    const org = await core.organizations.create(rival.actor, { name: 'Rival Agency', kind: 'agency' });
    const rivalAgency = await core.organizations.resolveContext(rival.actor, org.id);
    const rivalSub = (await core.organizations.createSubAccount(rivalAgency, { name: 'Rival Shop' })).id;
    const mine = await signedIn(http, admin);
    const theirs = await signedIn(http, rival);
    await bulk(mine.agent, mine.csrf, 'shared-key', { appId: app.appId, subAccountIds: [subs[4]] }).expect(
      200,
    );
    const res = await theirs.agent
      .post(`/v1/organizations/${rivalAgency.org.id}/bulk-installs`)
      .set('x-csrf-token', theirs.csrf)
      .set('Idempotency-Key', 'shared-key')
      .send({ appId: app.appId, subAccountIds: [rivalSub] })
      .expect(200);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
    expect(res.body.results[0]).toMatchObject({ subAccountId: rivalSub, status: 'installed' });
  });

  it('keeps no error: a failed first attempt runs again, and a fixed body may reuse the key', async () => {
    const { agent, csrf } = await signedIn(http, admin);
    const stale = { appId: app.appId, subAccountIds: [subs[6]], versionId: 'ver_not_the_live_one' };
    const first = await bulk(agent, csrf, 'key-after-error', stale).expect(409);
    expect(first.body.code).toBe('PLAZA_CONFLICT');
    const second = await bulk(agent, csrf, 'key-after-error', stale).expect(409);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect(await activeInstalls([subs[6]])).toBe(0);

    const fixed = await bulk(agent, csrf, 'key-after-error', { ...stale, versionId: app.versionId }).expect(
      200,
    );
    expect(fixed.body.results[0]).toMatchObject({ subAccountId: subs[6], status: 'installed' });
    const replay = await bulk(agent, csrf, 'key-after-error', { ...stale, versionId: app.versionId }).expect(
      200,
    );
    expect(replay.headers['idempotent-replayed']).toBe('true');
  });

  it('keeps no 5xx either: after a server-side failure the same key and body run again', async () => {
    const shop = (await core.organizations.createSubAccount(agency, { name: 'Flaky Shop' })).id;
    // A real failure inside PostgreSQL for this one sub-account's installation.
    await core.db.exec(`
      CREATE FUNCTION idem_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'disk on fire' USING ERRCODE = 'XX000'; END $$;
      CREATE TRIGGER idem_refuse BEFORE INSERT ON installations
        FOR EACH ROW WHEN (NEW.account_id = '${shop}') EXECUTE FUNCTION idem_refuse();`);
    const { agent, csrf } = await signedIn(http, admin);
    const body = { appId: app.appId, subAccountIds: [shop] };
    const failed = await bulk(agent, csrf, 'key-after-500', body).expect(500);
    expect(failed.body.code).toBe('PLAZA_INTERNAL');
    await core.db.exec('DROP TRIGGER idem_refuse ON installations; DROP FUNCTION idem_refuse();');
    const retry = await bulk(agent, csrf, 'key-after-500', body).expect(200);
    expect(retry.headers['idempotent-replayed']).toBeUndefined();
    expect(retry.body.results[0]).toMatchObject({ subAccountId: shop, status: 'installed' });
  });

  it('runs 50 concurrent duplicates once; the others wait and get the same answer', async () => {
    const one = await signedIn(http, admin);
    // Half of them through a second Plaza process on the same database (when there is a server).
    const two = usePg ? await signedIn(otherHttp, admin) : one;
    const body = { appId: app.appId, subAccountIds: [subs[7], subs[8], subs[9]] };
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2
          ? bulk(one.agent, one.csrf, 'key-stampede', body)
          : bulk(two.agent, two.csrf, 'key-stampede', body),
      ),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(50).fill(200));
    const fresh = answers.filter((a) => a.headers['idempotent-replayed'] !== 'true');
    expect(fresh).toHaveLength(1);
    for (const a of answers) expect(a.body).toEqual(fresh[0].body);
    expect(fresh[0].body).toMatchObject({ installed: 3, failed: 0 });
    expect(await activeInstalls([subs[7], subs[8], subs[9]])).toBe(3);
    const audits = await core.db.query(
      "SELECT count(*)::int AS n FROM audit_events WHERE action = 'app.bulk_installed' AND data->'installed' @> $1::jsonb",
      [JSON.stringify([{ subAccountId: subs[7] }])],
    );
    expect(audits[0].n).toBe(1);
  });

  it('forgets keys after 24 hours; the cleanup job deletes them', async () => {
    const { agent, csrf } = await signedIn(http, admin);
    await bulk(agent, csrf, 'key-expiring', { appId: app.appId, subAccountIds: [subs[10]] }).expect(200);
    await core.db.query(
      "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'key-expiring'",
    );
    // Expired: the key is free again, even for another body.
    const res = await bulk(agent, csrf, 'key-expiring', {
      appId: app.appId,
      subAccountIds: [subs[11]],
    }).expect(200);
    expect(res.headers['idempotent-replayed']).toBeUndefined();
    expect(res.body.results[0]).toMatchObject({ subAccountId: subs[11], status: 'installed' });

    await core.db.query(
      "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'key-expiring'",
    );
    const job = await core.jobs.enqueue('idempotency.cleanup', null);
    expect(job).toBeTruthy();
    await expect
      .poll(
        async () => (await core.db.query("SELECT 1 FROM idempotency_keys WHERE key = 'key-expiring'")).length,
        {
          timeout: 10_000,
        },
      )
      .toBe(0);
    expect((await core.db.query('SELECT 1 FROM idempotency_keys')).length).toBeGreaterThan(0);
  });

  it('refuses a malformed key with a 400 naming the header', async () => {
    const { agent, csrf } = await signedIn(http, admin);
    const res = await bulk(agent, csrf, 'has space', { appId: app.appId, subAccountIds: [subs[0]] }).expect(
      400,
    );
    expect(res.body).toMatchObject({
      code: 'PLAZA_VALIDATION',
      fields: [{ field: 'header.idempotency-key' }],
    });
  });

  it('refuses, when mounting, an idempotent route it could not key: GET, public, raw body', () => {
    const mount = (
      method: Method,
      access: Access,
      rawBody?: { contentTypes: string[]; maxBytes: number },
    ) => {
      const limiter = createRateLimiter(undefined, 'idem');
      const route = defineRoute({
        method,
        path: '/v1/things',
        summary: 'Things',
        tag: 'Test',
        access,
        rawBody,
        idempotent: true,
        handler: async () => undefined,
      });
      return () =>
        mountRoutes(new Router(), [route], {
          identity: core.identity,
          organizations: core.organizations,
          bodyLimitBytes: 1024,
          scopes: core.scopes,
          apps: createAppAuthenticator({
            verifyAccessToken: async () => undefined as never,
            organizationById: async () => undefined,
            limiter,
            limits: { perInstallation: 1, perApp: 1, anonymous: 1 },
          }),
          anonymousLimit: { limiter, perMinute: 1 },
          idempotency: core.idempotency,
        });
    };
    expect(mount('post', { kind: 'user' })).not.toThrow();
    expect(mount('get', { kind: 'user' })).toThrow('cannot be idempotent');
    expect(mount('post', { kind: 'public' })).toThrow('cannot be idempotent');
    expect(mount('post', { kind: 'user' }, { contentTypes: ['application/json'], maxBytes: 10 })).toThrow(
      'cannot be idempotent',
    );
  });

  it('lists the Idempotency-Key header on idempotent operations in the OpenAPI document', async () => {
    const doc = (await supertest(http).get('/openapi.json').expect(200)).body;
    const op = doc.paths['/v1/organizations/{orgId}/bulk-installs'].post;
    expect(op.parameters).toContainEqual(
      expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false }),
    );
    expect(op.responses['200'].headers['Idempotent-Replayed']).toBeDefined();
    const notIdempotent = doc.paths['/v1/organizations/{orgId}/apps'].post;
    expect((notIdempotent.parameters ?? []).map((p: any) => p.name)).not.toContain('Idempotency-Key');
  });
});
