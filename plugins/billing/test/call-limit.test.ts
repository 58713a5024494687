import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlazaServer } from '../../../test/helpers/plaza.ts';
import { withInstalledApp } from '../../../test/helpers/world.ts';
import { billingApp, startBilling } from './world.ts';

/**
 * The abuse limit of the metered routes with its default: 30 calls per
 * minute per app installation, shared by events, events/batch, deduct and
 * reserve, counted in the plugin's table (so every process sees one count).
 */
let plaza: PlazaServer;

beforeAll(async () => {
  // Deductions here are refused for lack of credits on purpose: the spending pause is abuse.test.ts's.
  ({ plaza } = await startBilling({ PLAZA_PLUGIN_BILLING_BLOCK_AFTER_REFUSALS: '0' }));
}, 60_000);
afterAll(() => plaza?.close());

/** The database's minute names the window: start the 31 calls well before it ends. */
async function awayFromMinuteEnd() {
  const { s } = await plaza.core.db.one<{ s: number }>(
    "SELECT extract(epoch FROM date_trunc('minute', now()) + interval '1 minute' - now())::float AS s",
  );
  if (s < 20) await new Promise((r) => setTimeout(r, s * 1000 + 200));
}

describe('metered routes call limit', () => {
  it('refuses the 31st call of a minute with 429 and Retry-After; another installation of the account is not affected; the next minute accepts again', async () => {
    const app = await billingApp(plaza);
    const other = await withInstalledApp(plaza, {
      owner: app.owner,
      account: { id: app.accountId },
      scopes: [{ name: 'billing:usage' }, { name: 'billing:credits' }],
    });
    expect(other.installationId).not.toBe(app.installationId);

    const calls = [
      () =>
        plaza.http
          .post('/v1/billing/events')
          .set(app.as)
          .send({ transactionId: `t-${Math.random()}`, meter: 'no_such_meter' }),
      () =>
        plaza.http
          .post('/v1/billing/events/batch')
          .set(app.as)
          .send({ events: [{ transactionId: `b-${Math.random()}`, meter: 'no_such_meter' }] }),
      () =>
        plaza.http
          .post('/v1/billing/credits/deduct')
          .set(app.as)
          .send({ amount: 1, idempotencyKey: `d-${Math.random()}` }),
      () =>
        plaza.http
          .post('/v1/billing/credits/reservations')
          .set(app.as)
          .send({ amount: 1, idempotencyKey: `r-${Math.random()}` }),
    ];
    await awayFromMinuteEnd();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await calls[i % calls.length]()).status);
    // Each of the 30 is answered on its merits (unknown meter, no credits), none is rate limited.
    expect(statuses.filter((s) => s === 429)).toEqual([]);

    for (const call of calls) {
      const refused = await call();
      expect(refused.status).toBe(429);
      expect(refused.headers['content-type']).toContain('application/problem+json');
      expect(refused.body).toMatchObject({ code: 'PLAZA_RATE_LIMITED', limit: 30 });
      const retryAfter = Number(refused.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
    }
    // Commit and void are not limited: giving credits back must always work.
    expect((await plaza.http.post('/v1/billing/credits/reservations/nope/void').set(app.as)).status).toBe(
      404,
    );

    // Another installation in the same account has its own budget.
    const fromOther = await plaza.http
      .post('/v1/billing/events')
      .set(other.as)
      .send({ transactionId: 'other-1', meter: 'no_such_meter' });
    expect(fromOther.status).toBe(400);

    // The minute passes: move the caller's window back by one minute (the window key).
    await plaza.core.db.query(
      "UPDATE billing_call_windows SET window_start = window_start - interval '1 minute' WHERE installation_id = $1",
      [app.installationId],
    );
    const again = await calls[0]();
    expect(again.status).toBe(400);
    expect(again.body.fields?.[0]?.field).toBe('body.meter');
  }, 90_000);
});
