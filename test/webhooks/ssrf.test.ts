import { isIP } from 'node:net';
import supertest from 'supertest';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { type Core, createCore } from '../../server/core.ts';
import { createDeliveryAgent } from '../../server/modules/webhooks/sender.ts';
import { systemLookup } from '../../server/modules/webhooks/ssrf.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { testConfig } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { type Receiver, receiver } from '../helpers/webhooks.ts';
import { createOrg, type SignedIn, signUp } from '../helpers/world.ts';

/**
 * The SSRF guard with WEBHOOKS_ALLOW_PRIVATE off (the default). DNS answers
 * for `*.example` come from the test (the machine may have no resolver);
 * other names, `localhost` included, go to the system resolver.
 */
const answers = new Map<string, string[]>([
  ['public.example', ['93.184.216.34']],
  ['rebind.example', ['93.184.216.34']],
  ['both.example', ['93.184.216.34', '10.0.0.7']],
]);

let database: TestDatabase;
let core: Core;
let http: ReturnType<typeof supertest>;
let dev: SignedIn;
let base: string;
let hooks: Receiver;

beforeAll(async () => {
  database = await createTestDatabase();
  core = await createCore(
    testConfig({ PLAZA_WEBHOOKS_TIMEOUT_MS: '2000', PLAZA_WEBHOOKS_TIME_SCALE: '0.00001' }),
    {
      db: database.db,
      webhooks: {
        lookup: async (host) => {
          const list = answers.get(host);
          if (!list) return systemLookup(host);
          return list.map((address) => ({ address, family: isIP(address) === 6 ? 6 : 4 }));
        },
      },
    },
  );
  await core.startWorkers();
  const app = createApp(core);
  http = supertest(app.callback());
  const plaza = { core, app, http, close: async () => {} };
  dev = await signUp(plaza);
  const org = await createOrg(dev, 'developer');
  const created = await dev.agent
    .post(`/v1/organizations/${org.id}/apps`)
    .set('x-csrf-token', dev.csrf)
    .send({ name: 'Hook Sender', slug: `hook-sender-${Date.now()}` })
    .expect(201);
  base = `/v1/organizations/${org.id}/apps/${created.body.app.id}/webhook-endpoints`;
  hooks = await receiver();
});

afterAll(async () => {
  await core?.close(2000);
  await database?.drop();
  await hooks?.close();
});

describe('webhook destinations', () => {
  it('refuses loopback, private, link-local, CGNAT, multicast and IPv4-mapped addresses, and names resolving to them', async () => {
    const refused: Array<[string, RegExp]> = [
      ['https://127.0.0.1/hooks', /127\.0\.0\.1 is a loopback address/],
      ['https://10.1.2.3/hooks', /private/],
      ['https://172.20.0.1/hooks', /private/],
      ['https://192.168.0.10/hooks', /private/],
      ['https://169.254.169.254/latest/meta-data', /link-local/],
      ['https://100.64.12.1/hooks', /carrier-grade NAT/],
      ['https://224.0.0.1/hooks', /multicast/],
      ['https://0.0.0.0/hooks', /unspecified/],
      ['https://[::1]/hooks', /loopback/],
      ['https://[fe80::1]/hooks', /link-local/],
      ['https://[fd00::1]/hooks', /unique local/],
      ['https://[::ffff:127.0.0.1]/hooks', /loopback \(IPv4 127\.0\.0\.1 inside IPv6\)/],
      ['https://[::ffff:10.0.0.1]/hooks', /private \(IPv4 10\.0\.0\.1 inside IPv6\)/],
      ['https://localhost/hooks', /localhost resolves to (127\.0\.0\.1|::1), a loopback address/],
      ['https://both.example/hooks', /both\.example resolves to 10\.0\.0\.7, a private address/],
      ['https://2130706433/hooks', /127\.0\.0\.1 is a loopback address/],
      [hooks.url, /must be an https URL/],
      ['http://public.example/hooks', /must be an https URL/],
    ];
    for (const [url, reason] of refused) {
      const res = await dev.agent.post(base).set('x-csrf-token', dev.csrf).send({ url });
      expect(res.status, url).toBe(400);
      expect(res.body.fields, url).toEqual([{ field: 'body.url', reason: expect.stringMatching(reason) }]);
    }
    const ok = await dev.agent
      .post(base)
      .set('x-csrf-token', dev.csrf)
      .send({ url: 'https://public.example/hooks' })
      .expect(201);
    // A change of URL is checked the same way.
    const patched = await dev.agent
      .patch(`${base}/${ok.body.endpoint.id}`)
      .set('x-csrf-token', dev.csrf)
      .send({ url: 'https://[::ffff:169.254.169.254]/' })
      .expect(400);
    expect(patched.body.fields[0].field).toBe('body.url');
    await dev.agent.delete(`${base}/${ok.body.endpoint.id}`).set('x-csrf-token', dev.csrf).expect(204);
  });

  it('checks again at every attempt and connects to the checked address: a name rebound to loopback is refused', async () => {
    const created = await dev.agent
      .post(base)
      .set('x-csrf-token', dev.csrf)
      .send({ url: `https://rebind.example:${hooks.port}/hooks` })
      .expect(201);
    // After the check at creation, the name now answers with the loopback address of a live receiver.
    answers.set('rebind.example', ['127.0.0.1']);
    const sent = await dev.agent
      .post(`${base}/${created.body.endpoint.id}/test`)
      .set('x-csrf-token', dev.csrf)
      .expect(201);
    const attempt = await waitFor('the refused attempt', async () => {
      const res = await dev.agent.get(
        base.replace(/webhook-endpoints$/, `webhook-messages/${sent.body.id}/attempts`),
      );
      return res.body.data?.[0];
    });
    expect(attempt).toMatchObject({ success: false, statusCode: null });
    expect(attempt.error).toMatch(/^refused: rebind\.example resolves to 127\.0\.0\.1, a loopback address/);
    expect(hooks.received).toEqual([]);
    await dev.agent
      .patch(`${base}/${created.body.endpoint.id}`)
      .set('x-csrf-token', dev.csrf)
      .send({ enabled: false })
      .expect(200);
  });

  it('connects to the address it checked, under the original host name (no second resolution)', async () => {
    let lookups = 0;
    const agent = createDeliveryAgent(
      {
        allowPrivate: true,
        lookup: async () => {
          lookups++;
          return [{ address: '127.0.0.1', family: 4 }];
        },
      },
      { connectTimeoutMs: 2000 },
    );
    // No resolver knows this name: only the checked answer can reach the receiver.
    const res = await request(`http://pinned.invalid:${hooks.port}/hooks`, {
      method: 'POST',
      body: '{}',
      dispatcher: agent,
    });
    await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(lookups).toBe(1);
    expect(hooks.received.at(-1)!.headers.host).toBe(`pinned.invalid:${hooks.port}`);
    await agent.destroy();
  });
});
