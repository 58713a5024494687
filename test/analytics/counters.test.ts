import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  type Receiver,
  receiver,
  startWebhooksPlaza,
  type WebhookApp,
  webhookApp,
} from '../helpers/webhooks.ts';
import { signInWithPlatformRole } from '../helpers/world.ts';

/**
 * What is not an event reaches the dashboards through its owner's counters:
 * webhook attempts (success rate, latency per endpoint) recorded with each
 * attempt, and app API calls with the 429s the rate limit answered, counted
 * by the app authenticator. Real deliveries to a real receiver, real calls.
 */
const PER_APP_LIMIT = 12;
let plaza: PlazaServer;
let app: WebhookApp;
let hooks: Receiver;
const today = new Date().toISOString().slice(0, 10);

beforeAll(async () => {
  plaza = await startWebhooksPlaza({ PLAZA_APP_RATE_LIMIT_PER_APP_PER_MINUTE: String(PER_APP_LIMIT) });
  app = await webhookApp(plaza, 'Counter App');
  hooks = await receiver();
}, 60_000);
afterAll(async () => {
  await hooks?.close();
  await plaza?.close();
});

async function developerDashboard() {
  const agent = supertest.agent(plaza.app.callback());
  await agent
    .post('/v1/auth/login')
    .send({ email: app.developerPerson.email, password: app.developerPerson.password })
    .expect(200);
  return (
    await agent.get(`/v1/organizations/${app.developer.org.id}/dashboards/developer?range=7d`).expect(200)
  ).body;
}
const chartOf = (d: any, id: string) => d.charts.find((c: any) => c.id === id);

describe('counters kept by their owners', () => {
  it('webhook attempts: success rate per endpoint and day, p50/p95 per endpoint, equal to the attempt log', async () => {
    // Two answers fail, the rest succeed (each failed message is retried on the fast schedule).
    hooks.statuses([500, 503]);
    const created = await plaza.http
      .post('/v1/app/webhook-endpoints')
      .set(app.as)
      .send({ url: hooks.url, eventTypes: [] })
      .expect(201);
    const endpointId = created.body.endpoint.id;
    for (let i = 0; i < 4; i++)
      await plaza.http.post(`/v1/app/webhook-endpoints/${endpointId}/test`).set(app.as).expect(201);
    await waitFor('four deliveries', async () => {
      const [{ n }] = await plaza.core.db.query(
        'SELECT count(*) FILTER (WHERE success)::int AS n FROM webhook_attempts WHERE endpoint_id = $1',
        [endpointId],
      );
      return n >= 4;
    });
    const [log] = await plaza.core.db.query(
      `SELECT count(*)::int AS attempts, count(*) FILTER (WHERE success)::int AS ok,
              percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) AS p50
       FROM webhook_attempts WHERE endpoint_id = $1`,
      [endpointId],
    );
    expect(log.attempts).toBe(6);
    const d = await developerDashboard();
    const success = chartOf(d, 'webhook_success');
    expect(success.series.map((s: any) => s.name)).toEqual([hooks.url]);
    expect(success.series[0].data.at(-1)).toBe(Math.round((1000 * log.ok) / log.attempts) / 10);
    const latency = chartOf(d, 'webhook_latency');
    expect(latency.x).toEqual([hooks.url]);
    // Percentiles are the upper bound of the latency bucket they fall in: at least the exact value.
    expect(latency.series[0].data[0]).toBeGreaterThanOrEqual(log.p50);
    expect(latency.series[1].data[0]).toBeGreaterThanOrEqual(latency.series[0].data[0]);

    // The operator sees the platform's failure rate of the day from the same counters.
    const admin = await signInWithPlatformRole(plaza, 'admin');
    const op = (await admin.agent.get('/v1/admin/dashboards/operator?range=7d').expect(200)).body;
    const failures = chartOf(op, 'webhook_failures');
    const [all] = await plaza.core.db.query(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE NOT success)::int AS failed FROM webhook_attempts
       WHERE started_at >= $1::date`,
      [today],
    );
    expect(failures.series[1].data.at(-1)).toBe(all.n);
    expect(failures.series[0].data.at(-1)).toBe(Math.round((1000 * all.failed) / all.n) / 10);
  });

  it('API calls and the 429s of the rate limit, per day', async () => {
    await plaza.core.analytics.flushApiCalls();
    const before = await developerDashboard();
    const calls0 = chartOf(before, 'api_calls').series[0].data.at(-1);
    const limited0 = chartOf(before, 'api_calls').series[1].data.at(-1);
    let ok = 0;
    let refused = 0;
    for (let i = 0; i < PER_APP_LIMIT + 5; i++) {
      const res = await plaza.http.get('/v1/app').set(app.as);
      if (res.status === 429) refused++;
      else ok++;
    }
    expect(refused).toBeGreaterThan(0);
    await plaza.core.analytics.flushApiCalls();
    const after = await developerDashboard();
    const api = chartOf(after, 'api_calls');
    expect(api.series[0].data.at(-1) - calls0).toBe(ok + refused);
    expect(api.series[1].data.at(-1) - limited0).toBe(refused);
  });
});
