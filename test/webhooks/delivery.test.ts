import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgContext } from '../../server/tenancy.ts';
import { browserAgent } from '../helpers/oauth.ts';
import type { PlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  type Receiver,
  receiver,
  startWebhooksPlaza,
  verifyWith,
  type WebhookApp,
  webhookApp,
} from '../helpers/webhooks.ts';
import { account, installApp, type Person, person } from '../helpers/world.ts';

/**
 * Webhook delivery end to end: real apps (registered and reviewed through
 * the services), client-credentials tokens, installations with granted
 * scopes, real HTTP receivers on loopback, and every delivery verified by
 * the standardwebhooks package. The retry schedule runs at a time scale of
 * 1/100,000 (the eight attempts take about a second).
 */
let plaza: PlazaServer;
let owner: Person;
let shop: OrgContext;
let other: OrgContext;
/** contacts:read, installed in shop. */
let reader: WebhookApp;
/** account:read only, installed in shop. */
let blind: WebhookApp;
let hooks: Receiver;
const receivers: Receiver[] = [];

async function newReceiver() {
  const r = await receiver();
  receivers.push(r);
  return r;
}

async function createEndpoint(app: WebhookApp, body: Record<string, unknown>) {
  const res = await plaza.http.post('/v1/app/webhook-endpoints').set(app.as).send(body);
  if (res.status !== 201) throw new Error(`create endpoint: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { endpoint: { id: string; url: string }; secret: string };
}

async function message(app: WebhookApp, id: string) {
  return (await plaza.http.get(`/v1/app/webhook-messages/${id}`).set(app.as).expect(200)).body;
}

async function attempts(app: WebhookApp, messageId: string) {
  return (await plaza.http.get(`/v1/app/webhook-messages/${messageId}/attempts`).set(app.as).expect(200)).body
    .data as Array<{
    statusCode: number | null;
    success: boolean;
    responseBody: string;
    error: string | null;
  }>;
}

async function waitForState(app: WebhookApp, id: string, state: string, timeoutMs = 10_000) {
  return waitFor(
    `message ${id} ${state}`,
    async () => {
      const m = await message(app, id);
      return m.state === state ? m : undefined;
    },
    timeoutMs,
  );
}

async function sendTest(app: WebhookApp, endpointId: string) {
  return (await plaza.http.post(`/v1/app/webhook-endpoints/${endpointId}/test`).set(app.as).expect(201))
    .body as {
    id: string;
    state: string;
  };
}

beforeAll(async () => {
  plaza = await startWebhooksPlaza({
    PLAZA_WEBHOOKS_RETRY_AFTER_MAX_SECONDS: '60',
    // 1,000 hours scaled: 36 s, longer than any test here fails on purpose.
    PLAZA_WEBHOOKS_DISABLE_AFTER_HOURS: '1000',
    PLAZA_WEBHOOKS_MAX_PAYLOAD_BYTES: '2048',
    PLAZA_WEBHOOKS_TIMEOUT_MS: '1500',
  });
  owner = await person(plaza, 'Olive Owner');
  shop = await account(plaza, owner, 'Corner Bakery');
  other = await account(plaza, owner, 'Other Bakery');
  reader = await webhookApp(plaza, 'Contact Reader', ['contacts:read']);
  blind = await webhookApp(plaza, 'Account Badge', ['account:read']);
  hooks = await newReceiver();
}, 60_000);

afterAll(async () => {
  await plaza?.close();
  for (const r of receivers) await r.close();
});

describe('event catalog', () => {
  it('lists every event type with its description, scope and payload JSON schema, without signing in', async () => {
    const res = await plaza.http.get('/v1/event-types').expect(200);
    const byType = new Map(res.body.data.map((t: any) => [t.type, t]));
    const created: any = byType.get('contact.created');
    expect(created).toMatchObject({ scope: 'contacts:read', owner: 'core' });
    expect(created.description).toMatch(/contact was created/);
    expect(created.schema).toMatchObject({ type: 'object' });
    expect(Object.keys(created.schema.properties)).toEqual(
      expect.arrayContaining(['accountId', 'contact', 'source']),
    );
    expect(byType.get('app.installed')).toMatchObject({ scope: null });
    expect(byType.get('endpoint.disabled')).toMatchObject({ scope: null });
    expect(byType.get('webhook.test')).toMatchObject({ scope: null });
  });
});

describe('endpoints', () => {
  it('are created by the app with its client-credentials token, with a whsec_ secret it can read again', async () => {
    const { endpoint, secret } = await createEndpoint(reader, {
      url: hooks.url,
      description: 'main receiver',
      eventTypes: ['contact.created'],
    });
    expect(secret).toMatch(/^whsec_/);
    expect(endpoint).toMatchObject({ url: hooks.url, enabled: true, eventTypes: ['contact.created'] });
    const read = await plaza.http
      .get(`/v1/app/webhook-endpoints/${endpoint.id}/secret`)
      .set(reader.as)
      .expect(200);
    expect(read.body).toMatchObject({ secret, previous: [] });
    // Sealed at rest: the secret's bytes are not in the table.
    const row = await plaza.core.db.one(
      'SELECT sealed FROM webhook_endpoint_secrets WHERE endpoint_id = $1',
      [endpoint.id],
    );
    expect(row.sealed).not.toContain(secret.slice(6, 30));
    await plaza.http.delete(`/v1/app/webhook-endpoints/${endpoint.id}`).set(reader.as).expect(204);
    await plaza.http.get(`/v1/app/webhook-endpoints/${endpoint.id}`).set(reader.as).expect(404);
  });

  it('are managed by the developer organization under the app, the same endpoints the app sees', async () => {
    const agent = browserAgent(plaza);
    const login = await agent
      .post('/v1/auth/login')
      .send({ email: reader.developerPerson.email, password: reader.developerPerson.password })
      .expect(200);
    const base = `/v1/organizations/${reader.developer.org.id}/apps/${reader.appId}/webhook-endpoints`;
    const created = await agent
      .post(base)
      .set('x-csrf-token', login.body.csrfToken)
      .send({ url: 'http://localhost:9/dev', description: 'from the console' })
      .expect(201);
    const listed = await plaza.http.get('/v1/app/webhook-endpoints').set(reader.as).expect(200);
    expect(listed.body.data.map((e: any) => e.id)).toContain(created.body.endpoint.id);
    const patched = await agent
      .patch(`${base}/${created.body.endpoint.id}`)
      .set('x-csrf-token', login.body.csrfToken)
      .send({ enabled: false })
      .expect(200);
    expect(patched.body).toMatchObject({ enabled: false, disabledReason: 'manual' });
    await agent
      .delete(`${base}/${created.body.endpoint.id}`)
      .set('x-csrf-token', login.body.csrfToken)
      .expect(204);
    // Another developer org does not see the app at all.
    const foreign = await agent.get(
      `/v1/organizations/${blind.developer.org.id}/apps/${reader.appId}/webhook-endpoints`,
    );
    expect([403, 404]).toContain(foreign.status);
  });

  it('refuses bad input naming the field', async () => {
    const bad = async (body: Record<string, unknown>, field: string) => {
      const res = await plaza.http.post('/v1/app/webhook-endpoints').set(reader.as).send(body).expect(400);
      expect(res.body.fields.map((f: any) => f.field)).toContain(field);
    };
    await bad({ url: 'ftp://example.com/x' }, 'body.url');
    await bad({ url: 'not a url' }, 'body.url');
    await bad({ url: 'http://example.com/hooks' }, 'body.url');
    await bad({ url: 'https://user:pw@example.com/hooks' }, 'body.url');
    await bad({ url: hooks.url, eventTypes: ['contact.created', 'contact.exploded'] }, 'body.eventTypes.1');
    const foreign = await installApp(plaza, blind, other.org.id, ['account:read']);
    await bad({ url: hooks.url, installationIds: [foreign.id] }, 'body.installationIds.0');
    await bad({ url: hooks.url, rateLimit: 0 }, 'body.rateLimit');
  });
});

describe('delivery', () => {
  let readerHooks: Receiver;
  let blindHooks: Receiver;
  let readerSecret: string;
  let blindSecret: string;

  beforeAll(async () => {
    readerHooks = await newReceiver();
    blindHooks = await newReceiver();
    readerSecret = (await createEndpoint(reader, { url: readerHooks.url })).secret;
    blindSecret = (await createEndpoint(blind, { url: blindHooks.url })).secret;
    await installApp(plaza, reader, shop.org.id, ['contacts:read']);
    await installApp(plaza, blind, shop.org.id, ['account:read']);
  });

  it('sends app.installed to the app concerned only, signed per Standard Webhooks', async () => {
    const installed = await waitFor('app.installed', () => readerHooks.of('app.installed')[0]);
    expect(verifyWith(readerSecret, installed)).toMatchObject({
      type: 'app.installed',
      accountId: shop.org.id,
      data: { appId: reader.appId, accountId: shop.org.id, grantedScopes: ['contacts:read'] },
    });
    expect(installed.headers['webhook-id']).toMatch(/^msg_/);
    expect(installed.headers['content-type']).toBe('application/json');
    await waitFor('blind app.installed', () => blindHooks.of('app.installed')[0]);
    expect(blindHooks.of('app.installed').every((r) => r.json.data.appId === blind.appId)).toBe(true);
    expect(readerHooks.of('app.installed').every((r) => r.json.data.appId === reader.appId)).toBe(true);
  });

  it('sends contact events only to apps whose installation granted contacts:read', async () => {
    const contact = await plaza.core.contacts.create(shop, { name: 'Ann Baker', email: 'ann@example.com' });
    const got = await waitFor('contact.created', () =>
      readerHooks.of('contact.created').find((r) => r.json.data.contact.id === contact.id),
    );
    const event = verifyWith(readerSecret, got) as any;
    expect(event).toMatchObject({
      type: 'contact.created',
      accountId: shop.org.id,
      data: { contact: { id: contact.id, name: 'Ann Baker' } },
    });
    expect(event.installationId).toMatch(/^inst_/);
    // The event's messages are made in one transaction: blind's list is final.
    const blindMessages = await plaza.http
      .get('/v1/app/webhook-messages?limit=100')
      .set(blind.as)
      .expect(200);
    expect(blindMessages.body.data.map((m: any) => m.eventType)).not.toContain('contact.created');
    expect(blindHooks.of('contact.created')).toEqual([]);
    // Contacts of an account where the app is not installed reach nobody.
    await plaza.core.contacts.create(other, { name: 'Ben Other' });
    const second = await plaza.core.contacts.create(shop, { name: 'Cy Second' });
    await waitFor('second contact', () =>
      readerHooks.of('contact.created').find((r) => r.json.data.contact.id === second.id),
    );
    expect(readerHooks.of('contact.created').map((r) => r.json.accountId)).toEqual([
      shop.org.id,
      shop.org.id,
    ]);
    verifyWith(blindSecret, blindHooks.of('app.installed')[0]);
    // The outbox delivers at least once: the same event fanned out again makes no new message.
    const row = await plaza.core.db.one('SELECT * FROM events WHERE id = $1', [got.json.id]);
    const again = await plaza.core.webhooks.engine.fanOut([
      {
        id: row.id,
        organizationId: row.organization_id,
        type: row.type,
        payload: row.payload,
        createdAt: row.created_at.toISOString(),
      },
    ]);
    expect(again).toBe(0);
    const forEvent = await plaza.core.db.query('SELECT id FROM webhook_messages WHERE event_id = $1', [
      row.id,
    ]);
    expect(forEvent).toHaveLength(1);
  });

  it('retries on the schedule (fail, fail, succeed) with the same webhook-id and a fresh timestamp', async () => {
    const r = await newReceiver();
    const { endpoint, secret } = await createEndpoint(reader, { url: r.url });
    r.statuses([500, { status: 502, body: 'bad gateway' }]);
    const m = await sendTest(reader, endpoint.id);
    const done = await waitForState(reader, m.id, 'delivered');
    expect(done.attempts).toBe(3);
    expect(r.received).toHaveLength(3);
    expect(new Set(r.received.map((x) => x.headers['webhook-id']))).toEqual(new Set([m.id]));
    for (const x of r.received) expect(verifyWith(secret, x)).toMatchObject({ type: 'webhook.test' });
    expect(r.received.map((x) => x.body)).toEqual([
      r.received[0].body,
      r.received[0].body,
      r.received[0].body,
    ]);
    const log = await attempts(reader, m.id);
    expect(log.map((a) => [a.statusCode, a.success])).toEqual([
      [500, false],
      [502, false],
      [200, true],
    ]);
    expect(log[1].responseBody).toBe('bad gateway');
  });

  it('does not follow redirects and gives up on an answer that takes longer than the timeout', async () => {
    const elsewhere = await newReceiver();
    const r = await newReceiver();
    const { endpoint } = await createEndpoint(reader, { url: r.url });
    r.statuses([{ status: 307, headers: { location: elsewhere.url } }]);
    const m = await sendTest(reader, endpoint.id);
    await waitForState(reader, m.id, 'delivered');
    expect((await attempts(reader, m.id)).map((a) => [a.statusCode, a.success])).toEqual([
      [307, false],
      [200, true],
    ]);
    expect(elsewhere.received).toEqual([]);
    // A receiver that never answers: the attempt fails at the timeout (1.5 s here), then the retry goes through.
    r.respond((_req, res) => {
      r.respond((_q, s) => {
        s.end('ok');
      });
      setTimeout(() => res.end('too late'), 5_000).unref();
    });
    const slow = await sendTest(reader, endpoint.id);
    await waitForState(reader, slow.id, 'delivered');
    const [timedOut] = await attempts(reader, slow.id);
    expect(timedOut).toMatchObject({ statusCode: null, success: false, error: 'timed out after 1500 ms' });
  });

  it('honours Retry-After on 429 and 503 within the configured bound', async () => {
    const r = await newReceiver();
    const { endpoint } = await createEndpoint(reader, { url: r.url });
    r.statuses([{ status: 429, headers: { 'retry-after': '30' } }]);
    const m = await sendTest(reader, endpoint.id);
    const waiting = await waitFor('first attempt', async () => {
      const x = await message(reader, m.id);
      return x.attempts === 1 ? x : undefined;
    });
    expect(waiting.state).toBe('pending');
    expect(waiting.lastStatus).toBe(429);
    // The schedule alone would retry within a millisecond; the receiver asked for 30 s.
    const gap = Date.parse(waiting.nextAttemptAt) - Date.parse(waiting.lastAttemptAt);
    expect(gap).toBeGreaterThanOrEqual(29_000);
    expect(gap).toBeLessThanOrEqual(31_000);

    const capped = await newReceiver();
    const second = await createEndpoint(reader, { url: capped.url });
    capped.statuses([{ status: 503, headers: { 'retry-after': '86400' } }]);
    const m2 = await sendTest(reader, second.endpoint.id);
    const w2 = await waitFor('503 attempt', async () => {
      const x = await message(reader, m2.id);
      return x.attempts === 1 ? x : undefined;
    });
    // A day asked, the bound (PLAZA_WEBHOOKS_RETRY_AFTER_MAX_SECONDS=60) applies.
    const gap2 = Date.parse(w2.nextAttemptAt) - Date.parse(w2.lastAttemptAt);
    expect(gap2).toBeGreaterThanOrEqual(59_000);
    expect(gap2).toBeLessThanOrEqual(61_000);
    for (const id of [endpoint.id, second.endpoint.id])
      await plaza.http.delete(`/v1/app/webhook-endpoints/${id}`).set(reader.as).expect(204);
  });

  it('dead-letters a message whose attempts are used up, lists it, and replays it', async () => {
    const r = await newReceiver();
    const { endpoint } = await createEndpoint(reader, { url: r.url });
    r.statuses(new Array(8).fill(500));
    const m = await sendTest(reader, endpoint.id);
    // Eight attempts on the scaled retry schedule: a loaded CI machine needs more than the usual 10 s.
    const failed = await waitForState(reader, m.id, 'failed', 30_000);
    expect(failed).toMatchObject({ attempts: 8, failureReason: 'attempts_exhausted', nextAttemptAt: null });
    const dead = await plaza.http
      .get(`/v1/app/webhook-messages?state=failed&endpointId=${endpoint.id}`)
      .set(reader.as)
      .expect(200);
    expect(dead.body.data.map((x: any) => x.id)).toEqual([m.id]);
    // The receiver is fixed: replay the one message.
    const replayed = await plaza.http
      .post(`/v1/app/webhook-messages/${m.id}/replay`)
      .set(reader.as)
      .expect(200);
    expect(replayed.body).toMatchObject({ state: 'pending', trigger: 'replay' });
    const delivered = await waitForState(reader, m.id, 'delivered');
    expect(delivered.attempts).toBe(9);
    expect(r.received.at(-1)!.headers['webhook-id']).toBe(m.id);
    await plaza.http.post(`/v1/app/webhook-messages/${m.id}/replay`).set(reader.as).expect(200);
    await waitForState(reader, m.id, 'delivered');
    // Replay all failed since a time: two more dead letters, then both replayed at once.
    const since = new Date(Date.now() - 1000).toISOString();
    r.statuses(new Array(16).fill(500));
    const a = await sendTest(reader, endpoint.id);
    const b = await sendTest(reader, endpoint.id);
    await waitForState(reader, a.id, 'failed');
    await waitForState(reader, b.id, 'failed');
    r.statuses([]);
    const all = await plaza.http
      .post(`/v1/app/webhook-endpoints/${endpoint.id}/replay`)
      .set(reader.as)
      .send({ since })
      .expect(200);
    expect(all.body).toEqual({ replayed: 2 });
    await waitForState(reader, a.id, 'delivered');
    await waitForState(reader, b.id, 'delivered');
    // An `until` before them replays nothing.
    const none = await plaza.http
      .post(`/v1/app/webhook-endpoints/${endpoint.id}/replay`)
      .set(reader.as)
      .send({ since: '2020-01-01T00:00:00Z', until: '2020-01-02T00:00:00Z' })
      .expect(200);
    expect(none.body).toEqual({ replayed: 0 });
    await plaza.http.post(`/v1/app/webhook-messages/${m.id}/replay`).set(blind.as).expect(404);
  });

  it('signs with both secrets during a rotation overlap, and with the new one only after', async () => {
    const r = await newReceiver();
    const { endpoint, secret: oldSecret } = await createEndpoint(reader, { url: r.url });
    const rotated = await plaza.http
      .post(`/v1/app/webhook-endpoints/${endpoint.id}/secret/rotate`)
      .set(reader.as)
      .send({})
      .expect(201);
    const newSecret = rotated.body.secret as string;
    expect(newSecret).not.toBe(oldSecret);
    // Default overlap: 24 hours.
    const expires = Date.parse(rotated.body.previousSecretsExpireAt) - Date.now();
    expect(expires).toBeGreaterThan(23.9 * 3_600_000);
    expect(expires).toBeLessThanOrEqual(24 * 3_600_000);
    const secretView = await plaza.http
      .get(`/v1/app/webhook-endpoints/${endpoint.id}/secret`)
      .set(reader.as)
      .expect(200);
    expect(secretView.body.secret).toBe(newSecret);
    expect(secretView.body.previous.map((p: any) => p.secret)).toEqual([oldSecret]);

    const m = await sendTest(reader, endpoint.id);
    await waitForState(reader, m.id, 'delivered');
    const during = r.received.at(-1)!;
    expect(during.headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(verifyWith(oldSecret, during)).toMatchObject({ type: 'webhook.test' });
    expect(verifyWith(newSecret, during)).toMatchObject({ type: 'webhook.test' });

    const again = await plaza.http
      .post(`/v1/app/webhook-endpoints/${endpoint.id}/secret/rotate`)
      .set(reader.as)
      .send({ overlapHours: 0 })
      .expect(201);
    expect(again.body.previousSecretsExpireAt).toBeNull();
    const m2 = await sendTest(reader, endpoint.id);
    await waitForState(reader, m2.id, 'delivered');
    const after = r.received.at(-1)!;
    expect(after.headers['webhook-signature'].split(' ')).toHaveLength(1);
    expect(verifyWith(again.body.secret, after)).toMatchObject({ type: 'webhook.test' });
    expect(() => verifyWith(newSecret, after)).toThrow();
    expect(() => verifyWith(oldSecret, after)).toThrow();
  });

  it('keeps at most PLAZA_WEBHOOKS_ENDPOINT_CONCURRENCY attempts in flight per endpoint', async () => {
    const r = await newReceiver();
    const { endpoint } = await createEndpoint(reader, { url: r.url });
    const held = r.hold();
    const sent = [];
    for (let i = 0; i < 14; i++) sent.push(await sendTest(reader, endpoint.id));
    // The cap (10 by default) fills up and stays there while the receiver holds the requests.
    await waitFor('ten in flight', () => r.received.length >= 10);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Counted by open connections: on a slow machine a held request can pass the 1.5 s attempt
    // timeout and be retried, and that retry may start only once Plaza gave the first one up.
    expect(r.maxInFlight).toBe(10);
    r.respond((_req, res) => {
      res.end('ok');
    });
    for (const release of held.splice(0)) release();
    for (const m of sent) await waitForState(reader, m.id, 'delivered');
    expect(r.maxInFlight).toBe(10);
  });
});

describe('endpoint rate limit', () => {
  it('sends at most rateLimit messages per second to an endpoint', async () => {
    const r = await newReceiver();
    const { endpoint } = await createEndpoint(reader, { url: r.url, rateLimit: 2 });
    const sent = [];
    for (let i = 0; i < 6; i++) sent.push(await sendTest(reader, endpoint.id));
    for (const m of sent) await waitForState(reader, m.id, 'delivered');
    const log = await plaza.http
      .get(`/v1/app/webhook-endpoints/${endpoint.id}/attempts`)
      .set(reader.as)
      .expect(200);
    const starts = log.body.data
      .map((a: any) => Date.parse(a.startedAt))
      .sort((x: number, y: number) => x - y);
    expect(starts).toHaveLength(6);
    // Six at two per second take three one-second windows: the last starts over a second after the first.
    expect(starts[5] - starts[0]).toBeGreaterThan(1000);
  });
});

describe('endpoint filters and mutes', () => {
  it('delivers only the event types an endpoint takes, for the installations it is limited to', async () => {
    const typed = await newReceiver();
    const limited = await newReceiver();
    const filterApp = await webhookApp(plaza, 'Filter Fan', ['contacts:read']);
    const inShop = await installApp(plaza, filterApp, shop.org.id, ['contacts:read']);
    await installApp(plaza, filterApp, other.org.id, ['contacts:read']);
    await createEndpoint(filterApp, { url: typed.url, eventTypes: ['contact.deleted'] });
    await createEndpoint(filterApp, {
      url: limited.url,
      installationIds: [inShop.id],
      eventTypes: ['contact.created'],
    });
    const a = await plaza.core.contacts.create(shop, { name: 'In Shop' });
    const b = await plaza.core.contacts.create(other, { name: 'In Other' });
    await plaza.core.contacts.delete(shop, a.id);
    await waitFor('contact.deleted', () => typed.of('contact.deleted')[0]);
    await waitFor('contact.created in shop', () => limited.of('contact.created')[0]);
    expect(typed.received.map((r) => r.json.type)).toEqual(['contact.deleted']);
    expect(limited.received.map((r) => r.json.data.contact.id)).toEqual([a.id]);
    expect(limited.received.map((r) => r.json.data.contact.id)).not.toContain(b.id);
  });

  it('an account admin mutes an event type for one installation', async () => {
    const r = await newReceiver();
    const muteApp = await webhookApp(plaza, 'Mute Me', ['contacts:read']);
    const inst = await installApp(plaza, muteApp, shop.org.id, ['contacts:read']);
    const { secret } = await createEndpoint(muteApp, { url: r.url });
    const agent = browserAgent(plaza);
    const login = await agent
      .post('/v1/auth/login')
      .send({ email: owner.email, password: owner.password })
      .expect(200);
    const path = `/v1/organizations/${shop.org.id}/installations/${inst.id}/webhook-mutes`;
    const before = await agent.get(path).expect(200);
    expect(before.body).toMatchObject({ installationId: inst.id, appId: muteApp.appId, muted: [] });
    expect(before.body.mutable.map((t: any) => t.type)).toEqual(
      expect.arrayContaining(['contact.created', 'contact.updated', 'contact.deleted']),
    );
    const set = await agent
      .put(path)
      .set('x-csrf-token', login.body.csrfToken)
      .send({ eventTypes: ['contact.created'] })
      .expect(200);
    expect(set.body.muted).toEqual(['contact.created']);
    const refused = await agent
      .put(path)
      .set('x-csrf-token', login.body.csrfToken)
      .send({ eventTypes: ['app.uninstalled'] })
      .expect(400);
    expect(refused.body.fields[0].field).toBe('body.eventTypes.0');
    const c = await plaza.core.contacts.create(shop, { name: 'Muted Mo' });
    await plaza.core.contacts.update(shop, c.id, { name: 'Muted Moe' });
    const updated = await waitFor('contact.updated', () => r.of('contact.updated')[0]);
    verifyWith(secret, updated);
    expect(r.of('contact.created')).toEqual([]);
    // Other apps in the same account still get it.
    await waitFor('reader got it', () =>
      receivers.some((x) => x.of('contact.created').some((m) => m.json.data.contact.id === c.id)),
    );
    await agent.put(path).set('x-csrf-token', login.body.csrfToken).send({ eventTypes: [] }).expect(200);
    const c2 = await plaza.core.contacts.create(shop, { name: 'Unmuted Una' });
    await waitFor('created after unmute', () =>
      r.of('contact.created').find((m) => m.json.data.contact.id === c2.id),
    );
  });
});

describe('endpoint health', () => {
  it('410 Gone disables the endpoint, notifies the developer and tells the app’s other endpoints', async () => {
    const healthApp = await webhookApp(plaza, 'Gone Girl', ['contacts:read']);
    const gone = await newReceiver();
    const watcher = await newReceiver();
    const { endpoint } = await createEndpoint(healthApp, { url: gone.url });
    const { secret: watcherSecret } = await createEndpoint(healthApp, {
      url: watcher.url,
      eventTypes: ['endpoint.disabled'],
    });
    gone.statuses([410]);
    const m = await sendTest(healthApp, endpoint.id);
    const failed = await waitForState(healthApp, m.id, 'failed');
    expect(failed).toMatchObject({ attempts: 1, failureReason: 'endpoint_gone', lastStatus: 410 });
    // Disabled right after the attempt's result is written.
    const ep = await waitFor('endpoint disabled', async () => {
      const res = await plaza.http
        .get(`/v1/app/webhook-endpoints/${endpoint.id}`)
        .set(healthApp.as)
        .expect(200);
      return res.body.enabled === false ? res : undefined;
    });
    expect(ep.body).toMatchObject({ enabled: false, disabledReason: 'gone' });
    const told = await waitFor('endpoint.disabled', () => watcher.of('endpoint.disabled')[0]);
    expect(verifyWith(watcherSecret, told)).toMatchObject({
      type: 'endpoint.disabled',
      accountId: null,
      data: { appId: healthApp.appId, endpointId: endpoint.id, url: gone.url, reason: 'gone' },
    });
    const notes = await plaza.core.notifications.list(healthApp.developerPerson.user.id, { limit: 10 });
    expect(notes.data.map((n) => n.kind)).toContain('webhook.endpoint_disabled');
    const mail = await waitFor('email', async () => {
      const box = await plaza.core.mail.mailbox(50, healthApp.developerPerson.email);
      return box.find((x) => /disabled/.test(x.subject));
    });
    expect(mail.text).toContain(gone.url);
    // Disabled: a test message is refused; enabling again clears the record and delivers.
    await plaza.http.post(`/v1/app/webhook-endpoints/${endpoint.id}/test`).set(healthApp.as).expect(409);
    const enabled = await plaza.http
      .patch(`/v1/app/webhook-endpoints/${endpoint.id}`)
      .set(healthApp.as)
      .send({ enabled: true })
      .expect(200);
    expect(enabled.body).toMatchObject({ enabled: true, disabledReason: null, consecutiveFailures: 0 });
    await plaza.http.post(`/v1/app/webhook-messages/${m.id}/replay`).set(healthApp.as).expect(200);
    await waitForState(healthApp, m.id, 'delivered');
  });

  it('disables an endpoint that keeps failing for the configured period, after repeated failures', async () => {
    const healthApp = await webhookApp(plaza, 'Always Down', ['contacts:read']);
    const down = await newReceiver();
    down.respond((_req, res) => {
      res.writeHead(500);
      res.end('down');
    });
    const { endpoint } = await createEndpoint(healthApp, { url: down.url });
    const m = await sendTest(healthApp, endpoint.id);
    await waitFor('five failures', async () => {
      const ep = await plaza.core.db.one('SELECT consecutive_failures FROM webhook_endpoints WHERE id = $1', [
        endpoint.id,
      ]);
      return ep.consecutive_failures >= 5;
    });
    // Failing for a short while only: still enabled.
    const early = await plaza.http
      .get(`/v1/app/webhook-endpoints/${endpoint.id}`)
      .set(healthApp.as)
      .expect(200);
    expect(early.body.enabled).toBe(true);
    expect(early.body.failingSince).not.toBeNull();
    // Failing for longer than the period (1,000 hours here), as far as the endpoint's record goes.
    await plaza.core.db.query(
      "UPDATE webhook_endpoints SET failing_since = now() - interval '60 days' WHERE id = $1",
      [endpoint.id],
    );
    // The next failure disables it (the first message may have used up its attempts already).
    const next = await plaza.http.post(`/v1/app/webhook-endpoints/${endpoint.id}/test`).set(healthApp.as);
    expect([201, 409]).toContain(next.status);
    const disabled = await waitFor('disabled', async () => {
      const ep = await plaza.http
        .get(`/v1/app/webhook-endpoints/${endpoint.id}`)
        .set(healthApp.as)
        .expect(200);
      return ep.body.enabled ? undefined : ep.body;
    });
    expect(disabled.disabledReason).toBe('failing');
    const msg = await message(healthApp, m.id);
    expect(msg.state).toBe('failed');
    const notes = await plaza.core.notifications.list(healthApp.developerPerson.user.id, { limit: 10 });
    expect(notes.data.find((n) => n.kind === 'webhook.endpoint_disabled')?.body).toMatch(/failed since/);
  });
});

describe('attempt log and stats', () => {
  it('records every attempt with status, duration, the first 4 KB of the answer, or the network error', async () => {
    const r = await newReceiver();
    const { endpoint } = await createEndpoint(reader, { url: r.url });
    r.statuses([{ status: 500, body: 'x'.repeat(10_000) }]);
    const m = await sendTest(reader, endpoint.id);
    await waitForState(reader, m.id, 'delivered');
    const log = await attempts(reader, m.id);
    expect(log[0].responseBody).toHaveLength(4096);
    expect(log[1]).toMatchObject({ statusCode: 200, success: true, responseBody: 'answer 2' });

    const closed = await newReceiver();
    const { endpoint: dead } = await createEndpoint(reader, { url: closed.url });
    await closed.close();
    const m2 = await sendTest(reader, dead.id);
    await waitFor('a network error', async () => (await attempts(reader, m2.id))[0]);
    const [first] = await attempts(reader, m2.id);
    expect(first.statusCode).toBeNull();
    expect(first.error).toMatch(/ECONNREFUSED/);
    await plaza.http
      .patch(`/v1/app/webhook-endpoints/${dead.id}`)
      .set(reader.as)
      .send({ enabled: false })
      .expect(200);

    const stats = await plaza.http
      .get(`/v1/app/webhook-endpoints/${endpoint.id}/stats`)
      .set(reader.as)
      .expect(200);
    expect(stats.body).toMatchObject({
      windowHours: 24,
      attempts: 2,
      succeeded: 1,
      failed: 1,
      successRate: 0.5,
    });
    expect(stats.body.latencyMs.p50).toBeGreaterThanOrEqual(0);
    expect(stats.body.latencyMs.p95).toBeGreaterThanOrEqual(stats.body.latencyMs.p50);
    expect(stats.body.messages).toEqual({ pending: 0, delivered: 1, failed: 0 });
    const endpointLog = await plaza.http
      .get(`/v1/app/webhook-endpoints/${endpoint.id}/attempts?success=false`)
      .set(reader.as)
      .expect(200);
    expect(endpointLog.body.data.map((a: any) => a.statusCode)).toEqual([500]);
  });

  it('lists messages with filters and shows the body as sent', async () => {
    const res = await plaza.http
      .get('/v1/app/webhook-messages?eventType=contact.created&state=delivered')
      .set(reader.as)
      .expect(200);
    expect(res.body.data.length).toBeGreaterThan(0);
    expect(
      res.body.data.every((m: any) => m.eventType === 'contact.created' && m.state === 'delivered'),
    ).toBe(true);
    const one = await message(reader, res.body.data[0].id);
    expect(one.payload).toMatchObject({
      type: 'contact.created',
      accountId: shop.org.id,
      data: { contact: {} },
    });
    const future = await plaza.http
      .get(
        `/v1/app/webhook-messages?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
      )
      .set(reader.as)
      .expect(200);
    expect(future.body.data).toEqual([]);
    const page1 = await plaza.http.get('/v1/app/webhook-messages?limit=2').set(reader.as).expect(200);
    const page2 = await plaza.http
      .get(`/v1/app/webhook-messages?limit=2&cursor=${page1.body.nextCursor}`)
      .set(reader.as)
      .expect(200);
    expect(page2.body.data[0].id < page1.body.data[1].id).toBe(true);
  });
});

describe('isolation between apps', () => {
  it('an app never sees another app’s endpoints, messages or attempts', async () => {
    const mine = await plaza.http.get('/v1/app/webhook-messages?limit=1').set(reader.as).expect(200);
    const messageId = mine.body.data[0].id;
    const endpointId = mine.body.data[0].endpointId;
    for (const path of [
      `/v1/app/webhook-endpoints/${endpointId}`,
      `/v1/app/webhook-endpoints/${endpointId}/secret`,
      `/v1/app/webhook-endpoints/${endpointId}/stats`,
      `/v1/app/webhook-endpoints/${endpointId}/attempts`,
      `/v1/app/webhook-messages/${messageId}`,
      `/v1/app/webhook-messages/${messageId}/attempts`,
    ])
      await plaza.http.get(path).set(blind.as).expect(404);
    await plaza.http
      .patch(`/v1/app/webhook-endpoints/${endpointId}`)
      .set(blind.as)
      .send({ enabled: false })
      .expect(404);
    await plaza.http.post(`/v1/app/webhook-endpoints/${endpointId}/test`).set(blind.as).expect(404);
    await plaza.http.delete(`/v1/app/webhook-endpoints/${endpointId}`).set(blind.as).expect(404);
    const theirs = await plaza.http.get('/v1/app/webhook-endpoints').set(blind.as).expect(200);
    expect(theirs.body.data.every((e: any) => e.appId === blind.appId)).toBe(true);
    const list = await plaza.http
      .get(`/v1/app/webhook-messages?endpointId=${endpointId}`)
      .set(blind.as)
      .expect(200);
    expect(list.body.data).toEqual([]);
  });
});

describe('replay missing', () => {
  it('sends a new endpoint the events of a time range it would have received', async () => {
    const lateApp = await webhookApp(plaza, 'Late Comer', ['contacts:read']);
    await installApp(plaza, lateApp, shop.org.id, ['contacts:read']);
    const since = new Date(Date.now() - 1000).toISOString();
    const a = await plaza.core.contacts.create(shop, { name: 'Before Endpoint A' });
    const b = await plaza.core.contacts.create(shop, { name: 'Before Endpoint B' });
    await plaza.core.contacts.create(other, { name: 'Not installed there' });
    // Both events are through delivery (another app got them) before the endpoint exists.
    for (const c of [a, b])
      await waitFor('delivered elsewhere', () =>
        receivers.some((x) => x.of('contact.created').some((m) => m.json.data.contact.id === c.id)),
      );
    const r = await newReceiver();
    const { endpoint, secret } = await createEndpoint(lateApp, {
      url: r.url,
      eventTypes: ['contact.created'],
    });
    const res = await plaza.http
      .post(`/v1/app/webhook-endpoints/${endpoint.id}/replay-missing`)
      .set(lateApp.as)
      .send({ since })
      .expect(200);
    expect(res.body).toEqual({ created: 2, truncated: false });
    await waitFor('both', () => r.of('contact.created').length === 2);
    expect(r.received.map((x) => (verifyWith(secret, x) as any).data.contact.id).sort()).toEqual(
      [a.id, b.id].sort(),
    );
    // Again: nothing is missing any more.
    const again = await plaza.http
      .post(`/v1/app/webhook-endpoints/${endpoint.id}/replay-missing`)
      .set(lateApp.as)
      .send({ since })
      .expect(200);
    expect(again.body.created).toBe(0);
  });
});

describe('payload limits and retention', () => {
  it('refuses a change whose event would exceed the payload cap with 413', async () => {
    const agent = browserAgent(plaza);
    const login = await agent
      .post('/v1/auth/login')
      .send({ email: owner.email, password: owner.password })
      .expect(200);
    const res = await agent
      .post(`/v1/organizations/${shop.org.id}/contacts`)
      .set('x-csrf-token', login.body.csrfToken)
      .send({ name: 'Big Bertha', customFields: { notes: 'n'.repeat(1900), more: 'm'.repeat(1900) } })
      .expect(413);
    expect(res.body.code).toBe('PLAZA_PAYLOAD_TOO_LARGE');
    expect(res.body.detail).toMatch(/limit is 2048/);
    // Nothing was written: the event and the change share the transaction.
    const found = await plaza.core.contacts.list(shop, { limit: 100 } as never);
    expect(found.data.map((c) => c.name)).not.toContain('Big Bertha');
    await agent
      .post(`/v1/organizations/${shop.org.id}/contacts`)
      .set('x-csrf-token', login.body.csrfToken)
      .send({ name: 'Small Sam', customFields: { notes: 'fits' } })
      .expect(201);
  });

  it('deletes payloads after the retention and messages after the log retention', async () => {
    const r = await newReceiver();
    const { endpoint } = await createEndpoint(reader, { url: r.url });
    const old = await sendTest(reader, endpoint.id);
    const ancient = await sendTest(reader, endpoint.id);
    await waitForState(reader, old.id, 'delivered');
    await waitForState(reader, ancient.id, 'delivered');
    const backdate = async (id: string, days: number) => {
      const m = await plaza.core.db.one(
        `UPDATE webhook_messages SET created_at = now() - $2 * interval '1 day' WHERE id = $1 RETURNING event_id`,
        [id, days],
      );
      await plaza.core.db.query(
        `UPDATE webhook_payloads SET created_at = now() - $2 * interval '1 day' WHERE id = $1`,
        [m.event_id, days],
      );
    };
    await backdate(old.id, 31);
    await backdate(ancient.id, 91);
    const deleted = await plaza.core.webhooks.engine.runRetention();
    expect(deleted.payloads).toBeGreaterThanOrEqual(2);
    expect(deleted.messages).toBeGreaterThanOrEqual(1);
    const kept = await message(reader, old.id);
    expect(kept.payload).toBeNull();
    expect(kept.state).toBe('delivered');
    const replay = await plaza.http
      .post(`/v1/app/webhook-messages/${old.id}/replay`)
      .set(reader.as)
      .expect(410);
    expect(replay.body.detail).toMatch(/retention/);
    await plaza.http.get(`/v1/app/webhook-messages/${ancient.id}`).set(reader.as).expect(404);
  });
});
