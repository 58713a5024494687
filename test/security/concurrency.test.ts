import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notFound, PlazaError } from '../../server/errors.ts';
import { completeApp, type Developer, developer } from '../helpers/apps.ts';
import { race, raceHttp } from '../helpers/concurrency.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import {
  account,
  person,
  registerApp,
  type SignedIn,
  signInWithPlatformRole,
  type TestApp,
} from '../helpers/world.ts';

/**
 * Two operations fired N times at once on the same thing: no 5xx (or raw
 * database error), and what is stored afterwards still holds together.
 */
let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza(
    { WEBHOOKS_ALLOW_PRIVATE: 'true', PLAZA_WEBHOOKS_MAX_ENDPOINTS_PER_APP: '3' },
    { workers: false },
  );
});
afterAll(() => plaza.close());

async function signIn(email: string, password: string): Promise<SignedIn> {
  const agent = supertest.agent(plaza.app.callback());
  const res = await agent.post('/v1/auth/login').send({ email, password }).expect(200);
  return { agent, user: res.body.user, csrf: res.body.csrfToken };
}

/** A service call's outcome: its value, or a client error (a PlazaError below 500); anything else fails. */
const settle = <T>(p: Promise<T>) =>
  p.then(
    (value) => ({ ok: true as const, value }),
    (err) => {
      if (!(err instanceof PlazaError) || err.status >= 500) throw err;
      return { ok: false as const, status: err.status };
    },
  );

describe('installations', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await registerApp(plaza, { redirectUris: ['https://app.example.com/cb'] });
  });

  async function activeCount(accountId: string) {
    const rows = await plaza.core.db.query(
      "SELECT count(*)::int AS n FROM installations WHERE account_id = $1 AND app_id = $2 AND status = 'active'",
      [accountId, app.appId],
    );
    return rows[0].n as number;
  }

  /** Installs the app with contacts:read into `acct` as `owner`, settled to ok or the error's status. */
  const installer =
    (owner: Awaited<ReturnType<typeof person>>, acct: Awaited<ReturnType<typeof account>>) => () =>
      settle(
        plaza.core.installations.create({
          accountId: acct.org.id,
          appId: app.appId,
          versionId: app.versionId,
          grantedScopes: ['contacts:read'],
          actor: owner.actor,
        }),
      );

  it('installing the same app N times at once makes one installation', async () => {
    const owner = await person(plaza);
    const acct = await account(plaza, owner);
    const install = installer(owner, acct);
    const { a, b } = await race(5, install, install);
    const done = [...a, ...b];
    expect(done.filter((r) => r.ok)).toHaveLength(1);
    expect(done.filter((r) => !r.ok).every((r) => !r.ok && r.status === 409)).toBe(true);
    expect(await activeCount(acct.org.id)).toBe(1);
  });

  it('install and uninstall racing leave at most one active installation, and every success has its event', async () => {
    const owner = await person(plaza);
    const acct = await account(plaza, owner);
    const install = installer(owner, acct);
    // Closing when nothing is active answers undefined: not an uninstall.
    const uninstall = () =>
      settle(
        plaza.core.oauth
          .uninstallInstallation(
            { accountId: acct.org.id, appId: app.appId },
            owner.actor,
            'uninstalled_by_account',
          )
          .then((inst) => inst ?? Promise.reject(notFound('installation'))),
      );
    await install();
    const { a, b } = await race(5, install, uninstall);
    const installed = a.filter((r) => r.ok).length + 1;
    const uninstalled = b.filter((r) => r.ok).length;
    const active = await activeCount(acct.org.id);
    expect(active).toBeLessThanOrEqual(1);
    expect(installed - uninstalled).toBe(active);
    const events = await plaza.core.db.query(
      'SELECT type, count(*)::int AS n FROM events WHERE organization_id = $1 GROUP BY type',
      [acct.org.id],
    );
    const n = (type: string) => events.find((e) => e.type === type)?.n ?? 0;
    expect([n('app.installed'), n('app.uninstalled')]).toEqual([installed, uninstalled]);
  });
});

describe('webhook endpoints', () => {
  let dev: Developer;
  let appId: string;
  let base: string;
  const send = (method: 'get' | 'post' | 'patch' | 'delete', path: string) =>
    (dev.agent as any)[method](path).set('x-csrf-token', dev.csrf);
  beforeAll(async () => {
    dev = await developer(plaza);
    ({ appId } = await completeApp(dev));
    base = `/v1/organizations/${dev.orgId}/apps/${appId}/webhook-endpoints`;
  });

  it('creating past the per-app limit at once stops at the limit', async () => {
    const create = () => send('post', base).send({ url: 'http://127.0.0.1:9/hook' });
    await raceHttp({
      label: 'create vs create',
      n: 4,
      a: create,
      b: create,
      allowed: [201, 409],
      invariant: async () => {
        const list = await send('get', base).expect(200);
        expect(list.body.data.length).toBeLessThanOrEqual(3);
      },
    });
    for (const e of (await send('get', base).expect(200)).body.data)
      await send('delete', `${base}/${e.id}`).expect(204);
  });

  it('changing and deleting an endpoint at once: it is either gone or whole', async () => {
    const created = await send('post', base).send({ url: 'http://127.0.0.1:9/hook' }).expect(201);
    const one = `${base}/${created.body.endpoint.id}`;
    let calls = 0;
    await raceHttp({
      label: 'patch vs delete',
      n: 4,
      a: () => {
        calls++;
        return send('patch', one).send({ enabled: calls % 2 === 0, description: `change ${calls}` });
      },
      b: () => send('delete', one),
      allowed: [200, 204, 404],
      invariant: async () => {
        const res = await send('get', one);
        expect([200, 404]).toContain(res.status);
        const rows = await plaza.core.db.query(
          'SELECT count(*)::int AS n FROM webhook_endpoints WHERE id = $1',
          [created.body.endpoint.id],
        );
        expect(rows[0].n).toBe(res.status === 200 ? 1 : 0);
      },
    });
  });

  it('rotating a secret N times at once leaves one current secret that signs', async () => {
    const created = await send('post', base).send({ url: 'http://127.0.0.1:9/hook' }).expect(201);
    const one = `${base}/${created.body.endpoint.id}`;
    const rotate = () => send('post', `${one}/secret/rotate`).send({});
    await raceHttp({
      label: 'rotate vs rotate',
      n: 4,
      a: rotate,
      b: () => send('get', `${one}/secret`),
      allowed: [200, 201, 409],
      invariant: async () => {
        const secret = await send('get', `${one}/secret`).expect(200);
        expect(JSON.stringify(secret.body)).toMatch(/whsec_/);
      },
    });
    await send('post', `${one}/test`)
      .send({})
      .expect((res: { status: number }) => expect(res.status).toBeLessThan(300));
  });
});

describe('an app going on and off the marketplace', () => {
  it('unpublish, republish, suspend and reinstate racing keep its status and its listing in step', async () => {
    const app = await registerApp(plaza, { redirectUris: ['https://app.example.com/cb'] });
    const devAdmin = await signIn(app.developerPerson.email, app.developerPerson.password);
    const operator = await signInWithPlatformRole(plaza, 'admin');
    const dev = (action: string) => () =>
      devAdmin.agent
        .post(`/v1/organizations/${app.developer.org.id}/apps/${app.appId}/${action}`)
        .set('x-csrf-token', devAdmin.csrf)
        .send(action === 'unpublish' ? { reason: 'Taking a break' } : {});
    const ops = (action: string) => () =>
      operator.agent
        .post(`/v1/admin/apps/${app.appId}/${action}`)
        .set('x-csrf-token', operator.csrf)
        .send(action === 'suspend' ? { reason: 'Policy check' } : {});
    const inStep = async () => {
      const row = await plaza.core.db.one<{ status: string; listed: boolean }>(
        `SELECT a.status, EXISTS (SELECT 1 FROM marketplace_listings l WHERE l.app_id = a.id AND l.withdrawn_at IS NULL) AS listed
         FROM apps a WHERE a.id = $1`,
        [app.appId],
      );
      expect(row.listed, `status ${row.status}`).toBe(row.status === 'active');
    };
    for (const [x, y] of [
      [dev('unpublish'), dev('republish')],
      [ops('suspend'), ops('reinstate')],
      [dev('unpublish'), ops('suspend')],
      [dev('republish'), ops('reinstate')],
    ])
      await raceHttp({ label: 'app status', n: 3, a: x, b: y, invariant: inStep });
  });
});
