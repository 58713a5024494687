import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlazaServer } from '../../../test/helpers/plaza.ts';
import { waitFor } from '../../../test/helpers/wait.ts';
import type { SignedIn } from '../../../test/helpers/world.ts';
import { billingApp, payOnPage, post, signIn, startBilling } from './world.ts';

/**
 * The credit spending guards with their default settings: a pause after 5
 * refused deductions in a row, an alert above 500 credits spent in an hour,
 * and the automatic top-up with the saved card when the balance runs low.
 */
let plaza: PlazaServer;
let operator: SignedIn;

beforeAll(async () => {
  ({ plaza, operator } = await startBilling());
}, 60_000);
afterAll(() => plaza?.close());

const grant = (accountId: string, amount: number, reference: string) =>
  post(operator, `/v1/billing/accounts/${accountId}/credits/grants`, {
    amount,
    reference,
    description: 'Test credits',
  }).expect(201);
const eventsOf = (accountId: string, type: string) =>
  plaza.core.db.query('SELECT payload FROM events WHERE type = $1 AND organization_id = $2 ORDER BY id', [
    type,
    accountId,
  ]);

describe('spending guards', () => {
  it('5 refused deductions in a row pause spending (429 until when); a success in between resets the count', async () => {
    const app = await billingApp(plaza);
    await grant(app.accountId, 10, 'g1');
    const deduct = (amount: number, key: string) =>
      plaza.http.post('/v1/billing/credits/deduct').set(app.as).send({ amount, idempotencyKey: key });
    for (let i = 0; i < 4; i++) expect((await deduct(20, `big-${i}`)).status).toBe(409);
    await deduct(1, 'small').expect(200); // resets the run
    for (let i = 4; i < 9; i++) expect((await deduct(20, `big-${i}`)).status).toBe(409);
    const blocked = await deduct(1, 'after');
    expect(blocked.status).toBe(429);
    expect(blocked.body).toMatchObject({ code: 'PLAZA_BILLING_SPENDING_BLOCKED', until: expect.any(String) });
    expect(new Date(blocked.body.until).getTime()).toBeGreaterThan(Date.now() + 14 * 60_000);
    // The balance is untouched by the refusals.
    expect((await plaza.http.get('/v1/billing/credits').set(app.as).expect(200)).body.balance).toBe(9);
  }, 30_000);

  it('alerts once per hour when more than 500 credits are spent in an hour', async () => {
    const app = await billingApp(plaza);
    await grant(app.accountId, 2000, 'g2');
    const spend = (amount: number, key: string) =>
      plaza.http
        .post('/v1/billing/credits/deduct')
        .set(app.as)
        .send({ amount, idempotencyKey: key })
        .expect(200);
    await spend(300, 'a');
    expect(await eventsOf(app.accountId, 'billing.credits_spend_alert')).toHaveLength(0);
    await spend(250, 'b');
    await spend(100, 'c');
    expect((await eventsOf(app.accountId, 'billing.credits_spend_alert')).map((e) => e.payload)).toEqual([
      { spentLastHour: 550, threshold: 500 },
    ]);
  }, 30_000);

  it('tops up by itself with the saved card when the balance falls below the threshold', async () => {
    const app = await billingApp(plaza);
    const owner = await signIn(plaza, app.owner);
    const base = `/v1/billing/organizations/${app.accountId}`;
    // A first top-up on the payment page saves the card.
    const top = await post(owner, `${base}/credits/top-ups`, { credits: 200 }).expect(201);
    await payOnPage(plaza, top.body.url);
    await waitFor(
      'the first credits',
      async () => (await owner.agent.get(`${base}/credits`)).body.balance === 200,
    );
    const saved = await owner.agent
      .put(`/v1/organizations/${app.accountId}/plugins/billing/settings`)
      .set('x-csrf-token', owner.csrf)
      .send({ values: { autoTopUpCredits: 300 } });
    expect(saved.status).toBe(200);
    await plaza.http
      .post('/v1/billing/credits/deduct')
      .set(app.as)
      .send({ amount: 150, idempotencyKey: 'spend' })
      .expect(200);
    await waitFor(
      'the automatic top-up',
      async () => (await owner.agent.get(`${base}/credits`)).body.balance === 350,
    );
    const grants = (await owner.agent.get(`${base}/credits`).expect(200)).body.grants;
    expect(grants.map((g: { source: string; amount: number }) => [g.source, g.amount])).toEqual([
      ['top_up', 300],
      ['top_up', 200],
    ]);

    // The books: both top-ups are deferred revenue (the charges credit the account's credit
    // liability, not revenue); the 150 credits spent moved 150 of it to revenue.
    const liability = { kind: 'customer_credit_liability' as const, party: app.accountId };
    expect(await plaza.core.ledger.balance(liability, 'USD')).toBe(350n);
    const moves = await plaza.core.db.query(
      `SELECT t.idempotency_key, a.kind, e.direction, e.amount::int FROM ledger_transactions t
       JOIN ledger_entries e ON e.transaction_id = t.id JOIN ledger_accounts a ON a.id = e.account_id
       WHERE a.kind = 'customer_credit_liability' AND a.party = $1 ORDER BY t.posted_at, e.direction`,
      [app.accountId],
    );
    expect(moves.map((m) => [m.idempotency_key.split(':')[0], m.direction, m.amount])).toEqual([
      ['platform_charge', 'credit', 200],
      ['billing', 'debit', 150],
      ['platform_charge', 'credit', 300],
    ]);
    const check = await plaza.core.ledger.verify();
    expect(check.unbalanced).toEqual([]);
    expect(check.mismatches).toEqual([]);
  }, 60_000);
});
