import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeStripe, startFakeStripe } from '../fake-stripe/server.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signUp } from '../helpers/world.ts';
import { waitFor } from './harness.ts';

/**
 * ctx.payments on the Stripe adapter (the real stripe SDK against the fake
 * Stripe server, its signed webhooks back to Plaza): a plugin's checkout is
 * paid on "Stripe Checkout", the saved card is charged off-session, each
 * success reaches the plugin once as platform_charge.succeeded and balances
 * in the ledger.
 */
let fake: FakeStripe;
let plaza: PlazaServer;
let ann: SignedIn;
let shop: { id: string };

beforeAll(async () => {
  fake = await startFakeStripe();
  plaza = await startPlazaServer({
    env: { ...fake.env(), PLAZA_PLUGINS: 'tiers', PLAZA_PLUGINS_DIR: 'test/fixtures/plugins' },
  });
  fake.setWebhookUrl(`${plaza.baseUrl}/v1/payments/stripe/webhook`);
  ann = await signUp(plaza, { name: 'Ann Stripe' });
  shop = await createOrg(ann, 'account', 'Stripe Shop');
}, 60_000);
afterAll(async () => {
  await fake?.close();
  await plaza?.close();
});

const post = (path: string, body: object) =>
  ann.agent.post(`/v1/tiers/organizations/${shop.id}${path}`).set('x-csrf-token', ann.csrf).send(body);

describe('ctx.payments on Stripe', () => {
  it('takes a checkout, then charges the saved card, each once in the ledger and as an event', async () => {
    const checkout = await post('/checkout', { reference: 'stripe-plan-1', amount: 2900 }).expect(200);
    expect(checkout.body.provider).toBe('stripe');
    fake.completeCheckout(checkout.body.sessionId);
    await fake.flush();
    await waitFor('platform_charge.succeeded for stripe-plan-1', () =>
      plaza.core.db.maybeOne("SELECT 1 FROM tiers_payments WHERE reference = 'stripe-plan-1'"),
    );

    const renewal = await post('/renewals', { key: 'stripe-renew-1', amount: 2900 }).expect(200);
    expect(renewal.body).toMatchObject({
      status: 'succeeded',
      chargeId: expect.stringMatching(/^ch_|^py_|^pi_/),
    });
    await waitFor('platform_charge.succeeded for stripe-renew-1', () =>
      plaza.core.db.maybeOne("SELECT 1 FROM tiers_payments WHERE reference = 'stripe-renew-1'"),
    );

    const events = await plaza.core.db.query('SELECT type, reference FROM tiers_payments ORDER BY reference');
    expect(events).toEqual([
      { type: 'platform_charge.succeeded', reference: 'stripe-plan-1' },
      { type: 'platform_charge.succeeded', reference: 'stripe-renew-1' },
    ]);
    const charges = await plaza.core.db.query(
      "SELECT provider_object_id FROM ledger_transactions WHERE source_kind = 'platform_charge'",
    );
    expect(charges).toHaveLength(2);
    const check = await plaza.core.ledger.verify();
    expect(check.unbalanced).toEqual([]);
    expect(check.mismatches).toEqual([]);
  });
});
