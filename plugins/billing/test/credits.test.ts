import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlazaServer } from '../../../test/helpers/plaza.ts';
import { waitFor } from '../../../test/helpers/wait.ts';
import type { InstalledApp, SignedIn } from '../../../test/helpers/world.ts';
import { billingApp, post, startBilling } from './world.ts';

/**
 * Credit wallets on a real core and PostgreSQL: grants, atomic deduction
 * under concurrency, idempotency, reservations that commit, void or lapse,
 * expiry, the low-balance event.
 */
let plaza: PlazaServer;
let operator: SignedIn;
let app: InstalledApp;

beforeAll(async () => {
  // The 100-deduction race refuses 34 in a row on purpose: the spending pause is tested in abuse.test.ts,
  // and its 100 calls in a second are above the metered routes' call limit (call-limit.test.ts).
  ({ plaza, operator } = await startBilling({
    PLAZA_PLUGIN_BILLING_BLOCK_AFTER_REFUSALS: '0',
    PLAZA_PLUGIN_BILLING_METERED_CALLS_PER_MINUTE: '0',
  }));
  app = await billingApp(plaza);
}, 60_000);
afterAll(() => plaza?.close());

let grants = 0;
const grant = (accountId: string, amount: number, extra: object = {}) =>
  post(operator, `/v1/billing/accounts/${accountId}/credits/grants`, {
    amount,
    reference: `g${++grants}`,
    description: 'Welcome credits',
    ...extra,
  });
const balance = async () => (await plaza.http.get('/v1/billing/credits').set(app.as).expect(200)).body;
const deduct = (amount: number, idempotencyKey: string) =>
  plaza.http.post('/v1/billing/credits/deduct').set(app.as).send({ amount, idempotencyKey });
const reserve = (amount: number, idempotencyKey: string, ttlSeconds?: number) =>
  plaza.http
    .post('/v1/billing/credits/reservations')
    .set(app.as)
    .send({ amount, idempotencyKey, ttlSeconds });

describe('credits', () => {
  it('100 concurrent deductions on one balance: each all or nothing, never below zero, the rest refused with the balance', async () => {
    const g = await grant(app.accountId, 1000).expect(201);
    expect(g.body).toMatchObject({ created: true, balance: 1000 });
    // The same grant reference again adds nothing.
    const again = await post(operator, `/v1/billing/accounts/${app.accountId}/credits/grants`, {
      amount: 1000,
      reference: `g${grants}`,
      description: 'Welcome credits',
    }).expect(201);
    expect(again.body).toMatchObject({ created: false, balance: 1000 });

    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => deduct(15, `race-${i}`)));
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status !== 200);
    expect(ok).toHaveLength(66); // 66 x 15 = 990 of 1,000
    expect(refused).toHaveLength(34);
    for (const r of refused) {
      expect(r.status).toBe(409);
      expect(r.body).toMatchObject({
        code: 'PLAZA_BILLING_INSUFFICIENT_CREDITS',
        balance: 10,
        requested: 15,
      });
    }
    // Every successful answer saw a distinct balance after it: the deductions ran one after another.
    expect(new Set(ok.map((r) => r.body.balance)).size).toBe(66);
    expect(Math.min(...ok.map((r) => r.body.balance))).toBe(10);
    expect((await balance()).balance).toBe(10);
    const rows = await plaza.core.db.query(
      'SELECT min(remaining) AS min, sum(remaining)::bigint AS sum FROM billing_credit_grants WHERE account_id = $1',
      [app.accountId],
    );
    expect(rows[0]).toEqual({ min: 10, sum: 10 });
    // Granted credits were never paid: spending them books no revenue (nothing was deferred).
    const booked = await plaza.core.db.query(
      "SELECT 1 FROM ledger_transactions WHERE idempotency_key LIKE 'billing:credits_used:%'",
    );
    expect(booked).toEqual([]);
  }, 60_000);

  it('a deduction sent again with its idempotencyKey is answered again, not deducted twice; another amount is 409', async () => {
    await grant(app.accountId, 100).expect(201);
    const start = (await balance()).balance;
    const first = await deduct(30, 'once').expect(200);
    expect(first.body).toMatchObject({
      status: 'committed',
      amount: 30,
      balance: start - 30,
      replayed: false,
    });
    const replay = await deduct(30, 'once').expect(200);
    expect(replay.body).toMatchObject({ id: first.body.id, replayed: true, balance: start - 30 });
    const other = await deduct(31, 'once');
    expect(other.status).toBe(409);
    expect(other.body.code).toBe('PLAZA_BILLING_IDEMPOTENCY_KEY_REUSED');
    expect((await balance()).balance).toBe(start - 30);
  });

  it('bad input is 400 with the field', async () => {
    const res = await plaza.http.post('/v1/billing/credits/deduct').set(app.as).send({ amount: -5 });
    expect(res.status).toBe(400);
    expect(res.body.fields.map((f: { field: string }) => f.field).sort()).toEqual([
      'body.amount',
      'body.idempotencyKey',
    ]);
  });

  it('reserve then commit part: the rest comes back; void gives all back; committing twice answers the same', async () => {
    await grant(app.accountId, 500).expect(201);
    const start = (await balance()).balance;
    const held = await reserve(200, 'job-1').expect(201);
    expect(held.body).toMatchObject({ status: 'reserved', amount: 200, balance: start - 200 });
    expect((await balance()).reserved).toBe(200);
    const commit = () =>
      plaza.http
        .post(`/v1/billing/credits/reservations/${held.body.id}/commit`)
        .set(app.as)
        .send({ amount: 120 });
    expect((await commit().expect(200)).body).toMatchObject({
      status: 'committed',
      committed: 120,
      balance: start - 120,
    });
    expect((await commit().expect(200)).body).toMatchObject({ replayed: true, committed: 120 });
    const voidIt = await plaza.http
      .post(`/v1/billing/credits/reservations/${held.body.id}/void`)
      .set(app.as)
      .send({});
    expect(voidIt.status).toBe(409);
    expect(voidIt.body).toMatchObject({ code: 'PLAZA_BILLING_RESERVATION_CLOSED', status: 'committed' });

    const second = await reserve(50, 'job-2').expect(201);
    await plaza.http
      .post(`/v1/billing/credits/reservations/${second.body.id}/void`)
      .set(app.as)
      .send({})
      .expect(200);
    expect((await balance()).balance).toBe(start - 120);
  });

  it('a reservation not settled in time is given back by itself, and can no longer be committed', async () => {
    const start = (await balance()).balance;
    const held = await reserve(start, 'lapses', 1).expect(201);
    expect(held.body.balance).toBe(0);
    await waitFor('the reservation to lapse', async () => (await balance()).balance === start, 15_000);
    const late = await plaza.http
      .post(`/v1/billing/credits/reservations/${held.body.id}/commit`)
      .set(app.as)
      .send({});
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ code: 'PLAZA_BILLING_RESERVATION_CLOSED', status: 'expired' });
  }, 30_000);

  it('spends the soonest-expiring credits first, and expired credits are not spendable', async () => {
    const other = await billingApp(plaza);
    const soon = new Date(Date.now() + 1500).toISOString();
    await grant(other.accountId, 100).expect(201);
    await grant(other.accountId, 40, { expiresAt: soon }).expect(201);
    const res = await plaza.http
      .post('/v1/billing/credits/deduct')
      .set(other.as)
      .send({ amount: 30, idempotencyKey: 'k' })
      .expect(200);
    expect(res.body.balance).toBe(110);
    const view = (await plaza.http.get('/v1/billing/credits').set(other.as).expect(200)).body;
    expect(view.grants.map((g: { amount: number; remaining: number }) => [g.amount, g.remaining])).toEqual([
      [40, 10],
      [100, 100],
    ]);
    await waitFor('the grant to expire', async () => {
      const b = (await plaza.http.get('/v1/billing/credits').set(other.as).expect(200)).body;
      return b.balance === 100;
    });
    const tooMuch = await plaza.http
      .post('/v1/billing/credits/deduct')
      .set(other.as)
      .send({ amount: 101, idempotencyKey: 'k2' });
    expect(tooMuch.body).toMatchObject({ code: 'PLAZA_BILLING_INSUFFICIENT_CREDITS', balance: 100 });
  }, 60_000);

  it('emits billing.credits_low once when the balance falls below the threshold, again after a top-up above it', async () => {
    const low = await billingApp(plaza);
    await grant(low.accountId, 150).expect(201);
    const spend = (n: number, k: string) =>
      plaza.http
        .post('/v1/billing/credits/deduct')
        .set(low.as)
        .send({ amount: n, idempotencyKey: k })
        .expect(200);
    const lows = async () =>
      plaza.core.db.query(
        "SELECT payload FROM events WHERE type = 'billing.credits_low' AND organization_id = $1",
        [low.accountId],
      );
    await spend(40, 'a'); // 110: above 100
    expect(await lows()).toHaveLength(0);
    await spend(20, 'b'); // 90
    await spend(20, 'c'); // 70
    expect((await lows()).map((e) => e.payload)).toEqual([{ balance: 90, threshold: 100 }]);
    await grant(low.accountId, 100).expect(201); // 170: re-armed
    await spend(80, 'd'); // 90
    expect(await lows()).toHaveLength(2);
  }, 30_000);
});
