import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expressWebhook, koaWebhook, type WebhookEvent } from '../../sdk/src/webhooks.ts';
import { REDIS_URL } from '../helpers/db.ts';
import type { PlazaServer } from '../helpers/plaza.ts';
import { deleteRedisPrefix } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  receiver,
  startWebhooksPlaza,
  verifyWith,
  type WebhookApp,
  webhookApp,
} from '../helpers/webhooks.ts';

/**
 * The database is the queue of deliveries: a message claimed by a worker
 * that died is attempted again once its lease runs out; a message in flight
 * is not claimed twice; a Redis that lost all its data loses no message.
 * And the SDK's middleware verifying real deliveries.
 */
async function message(plaza: PlazaServer, app: WebhookApp, id: string) {
  return (await plaza.http.get(`/v1/app/webhook-messages/${id}`).set(app.as).expect(200)).body;
}

async function endpointFor(plaza: PlazaServer, app: WebhookApp, url: string) {
  const res = await plaza.http.post('/v1/app/webhook-endpoints').set(app.as).send({ url }).expect(201);
  return res.body as { endpoint: { id: string }; secret: string };
}

async function sendTest(plaza: PlazaServer, app: WebhookApp, endpointId: string): Promise<string> {
  const res = await plaza.http.post(`/v1/app/webhook-endpoints/${endpointId}/test`).set(app.as).expect(201);
  return res.body.id;
}

/** First attempt: 503 asking for 2 s; then `lose` strikes; the retry is still delivered, once. */
async function retryIsDelivered(
  plaza: PlazaServer,
  app: WebhookApp,
  lose: (messageId: string) => Promise<void>,
) {
  const r = await receiver();
  try {
    const { endpoint, secret } = await endpointFor(plaza, app, r.url);
    r.statuses([{ status: 503, headers: { 'retry-after': '2' } }]);
    const id = await sendTest(plaza, app, endpoint.id);
    await waitFor('the first attempt', async () => (await message(plaza, app, id)).attempts === 1);
    await lose(id);
    const delivered = await waitFor(
      'the retry',
      async () => {
        const m = await message(plaza, app, id);
        return m.state === 'delivered' ? m : undefined;
      },
      15_000,
    );
    expect(delivered.attempts).toBe(2);
    expect(r.received).toHaveLength(2);
    expect(r.received.map((x) => x.headers['webhook-id'])).toEqual([id, id]);
    verifyWith(secret, r.received[1]);
  } finally {
    await r.close();
  }
}

describe('on the PostgreSQL job runner', () => {
  let plaza: PlazaServer;
  let app: WebhookApp;
  const servers: Server[] = [];

  beforeAll(async () => {
    plaza = await startWebhooksPlaza();
    app = await webhookApp(plaza, 'Recovery Room');
  }, 60_000);
  afterAll(async () => {
    await plaza?.close();
    for (const s of servers) s.close();
  });

  it('attempts again, once its lease runs out, a message claimed by a worker that died', async () => {
    expect(plaza.core.jobs.kind).toBe('postgres');
    await retryIsDelivered(plaza, app, async (id) => {
      // What a worker killed right after claiming leaves behind: a lease nobody will finish.
      const [row] = await plaza.core.db.query(
        `UPDATE webhook_queue SET lease_until = now() + interval '1.5 seconds',
           due_at = now() + interval '1.5 seconds'
         WHERE message_id = $1 RETURNING message_id AS id`,
        [id],
      );
      expect(row?.id).toBe(id);
      await new Promise((resolve) => setTimeout(resolve, 700));
      // Leased: nobody else claims it meanwhile.
      expect((await message(plaza, app, id)).attempts).toBe(1);
    });
  });

  it('does not claim again a message that is in flight (leased)', async () => {
    const r = await receiver();
    let release!: () => void;
    r.respond(
      (_req, res) =>
        new Promise<void>((resolve) => {
          release = () => {
            res.end('ok');
            resolve();
          };
        }),
    );
    const { endpoint } = await endpointFor(plaza, app, r.url);
    const id = await sendTest(plaza, app, endpoint.id);
    await waitFor('the request', () => r.received.length === 1);
    // In flight for longer than the poll interval: a claim (what every worker's pump does) leaves it alone.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect((await plaza.core.webhooks.engine.claim(100)).map((m) => m.id)).not.toContain(id);
    release();
    await waitFor('delivered', async () => (await message(plaza, app, id)).state === 'delivered');
    expect(r.received).toHaveLength(1);
    await r.close();
  });

  it('keeps the per-endpoint cap exact with two workers claiming (alone and with their results)', async () => {
    // A second worker on the same database: its pump claims and its writer records (and claims) too.
    const second = await startWebhooksPlaza({}, { database: plaza.database });
    const r = await receiver();
    try {
      const held = r.hold();
      const { endpoint } = await endpointFor(plaza, app, r.url);
      // Each test message wakes both pumps (NOTIFY): both claim for the endpoint.
      const ids = await Promise.all(Array.from({ length: 40 }, () => sendTest(plaza, app, endpoint.id)));
      // The cap (10 by default) fills up and stays there while the receiver holds the requests.
      await waitFor('ten in flight', () => r.received.length >= 10);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(r.maxInFlight).toBe(10);
      // Released a few at a time: each freed slot is claimed by one of the two workers, never both.
      while (r.received.length < ids.length || held.length) {
        for (const release of held.splice(0, 3)) release();
        second.core.webhooks.engine.wake();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      for (const id of ids)
        await waitFor('delivered', async () => (await message(plaza, app, id)).state === 'delivered');
      expect(r.maxInFlight).toBe(10);
      expect(new Set(r.received.map((x) => x.headers['webhook-id'])).size).toBe(ids.length);
      expect(r.received).toHaveLength(ids.length);
    } finally {
      await r.close();
      await second.close();
    }
  });

  it('the SDK middleware verifies real deliveries (node:http with expressWebhook, Koa with koaWebhook)', async () => {
    const listen = async (server: Server) => {
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
    };
    const fromExpress: WebhookEvent[] = [];
    const fromKoa: WebhookEvent[] = [];
    let expressSecret = '';
    let koaSecret = '';
    const plain = createServer((req, res) =>
      expressWebhook(expressSecret)(req as never, res, () => {
        fromExpress.push((req as unknown as { webhook: WebhookEvent }).webhook);
        res.statusCode = 204;
        res.end();
      }),
    );
    const koa = new Koa();
    koa.use((ctx, next) => koaWebhook(koaSecret)(ctx as never, next));
    koa.use((ctx) => {
      fromKoa.push(ctx.state.webhook);
      ctx.status = 204;
    });
    const expressUrl = await listen(plain);
    const koaUrl = await listen(createServer(koa.callback()));
    const e1 = await endpointFor(plaza, app, expressUrl);
    expressSecret = e1.secret;
    const e2 = await endpointFor(plaza, app, koaUrl);
    koaSecret = e2.secret;
    const m1 = await sendTest(plaza, app, e1.endpoint.id);
    const m2 = await sendTest(plaza, app, e2.endpoint.id);
    await waitFor(
      'both delivered',
      async () =>
        (await message(plaza, app, m1)).state === 'delivered' &&
        (await message(plaza, app, m2)).state === 'delivered',
    );
    expect(fromExpress).toEqual([
      expect.objectContaining({
        type: 'webhook.test',
        data: expect.objectContaining({ endpointId: e1.endpoint.id }),
      }),
    ]);
    expect(fromKoa).toEqual([
      expect.objectContaining({
        type: 'webhook.test',
        data: expect.objectContaining({ endpointId: e2.endpoint.id }),
      }),
    ]);
    // A forged request gets 401 from both.
    for (const url of [expressUrl, koaUrl]) {
      const forged = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'webhook-id': 'msg_forged',
          'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
          'webhook-signature': `v1,${Buffer.from('forged').toString('base64')}`,
        },
        body: JSON.stringify({ type: 'contact.created', data: {} }),
      });
      expect(forged.status).toBe(401);
      expect((await forged.json()).error).toBe('no_matching_signature');
    }
    expect(fromExpress).toHaveLength(1);
    expect(fromKoa).toHaveLength(1);
  });
});

describe('on BullMQ (Redis)', () => {
  const prefix = `plaza-test-${randomBytes(4).toString('hex')}`;
  let plaza: PlazaServer;
  let app: WebhookApp;

  beforeAll(async () => {
    plaza = await startWebhooksPlaza({ REDIS_URL, REDIS_PREFIX: prefix, PLAZA_JOBS_LEASE_MS: '2000' });
    app = await webhookApp(plaza, 'Redis Recovery');
  }, 60_000);
  afterAll(async () => {
    await plaza?.close();
    await deleteRedisPrefix(prefix);
  });

  it('delivers a pending retry after Redis lost all its data', async () => {
    expect(plaza.core.jobs.kind).toBe('bullmq');
    // Every key of this Plaza in Redis goes: queued and delayed jobs, the recurring-job schedules.
    await retryIsDelivered(plaza, app, () => deleteRedisPrefix(prefix));
  });
});
