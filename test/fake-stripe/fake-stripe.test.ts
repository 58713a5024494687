import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeStripe, startFakeStripe } from './server.ts';

/** The fake itself, driven by the real SDK: what Plaza's Stripe adapter relies on. */
describe('fake Stripe', () => {
  let fake: FakeStripe;
  let stripe: Stripe;
  let receiver: Server;
  const received: Array<{ event: Stripe.Event }> = [];
  const rejected: string[] = [];

  beforeAll(async () => {
    fake = await startFakeStripe();
    stripe = fake.client();
    receiver = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      try {
        const body = Buffer.concat(chunks);
        const header = req.headers['stripe-signature'] as string;
        // Connect events are signed for the Connect endpoint, the others for the platform endpoint.
        const peek = JSON.parse(body.toString('utf8'));
        const secret = peek.account ? fake.connectWebhookSecret : fake.webhookSecret;
        const event = stripe.webhooks.constructEvent(body, header, secret, 300);
        received.push({ event });
        res.writeHead(200).end();
      } catch (err) {
        rejected.push(String(err));
        res.writeHead(400).end();
      }
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    fake.setWebhookUrl(`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`);
  });
  afterAll(async () => {
    await fake.close();
    await new Promise((r) => receiver.close(r));
  });

  it('refuses a wrong API key', async () => {
    const wrong = new Stripe('sk_test_wrong', { host: fake.host, port: fake.port, protocol: 'http' });
    await expect(wrong.balance.retrieve()).rejects.toMatchObject({ statusCode: 401 });
  });

  it('creates a v2 recipient account, onboards it through a single-use Account Link and reports it with account.updated', async () => {
    const account = await stripe.v2.core.accounts.create({
      display_name: 'Acme Dev',
      contact_email: 'dev@acme.test',
      dashboard: 'express',
      identity: { country: 'us', entity_type: 'company' },
      configuration: {
        recipient: { capabilities: { stripe_balance: { stripe_transfers: { requested: true } } } },
      },
      include: ['configuration.recipient', 'requirements'],
    });
    expect(account.id).toMatch(/^acct_/);
    expect(account.dashboard).toBe('express');
    expect(account.configuration?.recipient?.capabilities?.stripe_balance?.stripe_transfers?.status).toBe(
      'restricted',
    );
    expect(account.requirements?.entries?.length).toBeGreaterThan(0);

    const link = await stripe.v2.core.accountLinks.create({
      account: account.id,
      use_case: {
        type: 'account_onboarding',
        account_onboarding: {
          refresh_url: 'http://plaza.test/refresh',
          return_url: 'http://plaza.test/return',
        },
      },
    });
    const first = await fetch(link.url, { redirect: 'manual' });
    expect(first.status).toBe(200);
    // Single use: a second visit is sent to the refresh URL.
    const second = await fetch(link.url, { redirect: 'manual' });
    expect(second.status).toBe(302);
    expect(second.headers.get('location')).toBe('http://plaza.test/refresh');
    // Submitting the opened form finishes onboarding and returns to Plaza.
    const submit = await fetch(`${link.url}/submit`, { method: 'POST', redirect: 'manual' });
    expect(submit.headers.get('location')).toBe('http://plaza.test/return');
    await fake.flush();

    const v1 = await stripe.accounts.retrieve(account.id);
    expect(v1.payouts_enabled).toBe(true);
    expect(v1.requirements?.currently_due).toEqual([]);
    const updated = received.find(
      (r) => r.event.type === 'account.updated' && r.event.account === account.id,
    );
    expect((updated!.event.data.object as Stripe.Account).payouts_enabled).toBe(true);

    const deadline = new Date(Date.now() + 7 * 86_400_000);
    fake.requireInformation(account.id, ['individual.verification.document'], { deadline });
    const again = await stripe.accounts.retrieve(account.id);
    expect(again.requirements?.currently_due).toEqual(['individual.verification.document']);
    expect(again.requirements?.current_deadline).toBe(Math.floor(deadline.getTime() / 1000));
  });

  it('charges through Checkout, transfers shares with transfer_group and source_transaction, reverses and refunds', async () => {
    const account = await stripe.v2.core.accounts.create({
      dashboard: 'express',
      configuration: { recipient: {} },
    });
    fake.completeOnboarding(account.id);

    const session = await stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [
        { price_data: { currency: 'usd', unit_amount: 10_000, product_data: { name: 'Pro' } }, quantity: 1 },
      ],
      payment_intent_data: { transfer_group: 'inv_1', setup_future_usage: 'off_session' },
      success_url: 'http://plaza.test/ok?session={CHECKOUT_SESSION_ID}',
      metadata: { invoice: 'inv_1' },
    });
    expect(session.url).toContain('/checkout/');
    // The customer pays on the hosted page.
    const page = await fetch(session.url!);
    expect(await page.text()).toContain('100.00 USD');
    const paid = await fetch(`${session.url}/pay`, {
      method: 'POST',
      body: 'card=4242',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      redirect: 'manual',
    });
    expect(paid.headers.get('location')).toBe(`http://plaza.test/ok?session=${session.id}`);
    const done = await stripe.checkout.sessions.retrieve(session.id);
    expect(done.payment_status).toBe('paid');
    const pi = await stripe.paymentIntents.retrieve(done.payment_intent as string);
    const charge = await stripe.charges.retrieve(pi.latest_charge as string, {
      expand: ['balance_transaction'],
    });
    const bt = charge.balance_transaction as Stripe.BalanceTransaction;
    expect(bt.amount).toBe(10_000);
    expect(bt.fee).toBe(320);
    expect(bt.net).toBe(9_680);
    expect(charge.transfer_group).toBe('inv_1');

    // Transfer the developer's share, idempotently.
    const params = {
      amount: 7_500,
      currency: 'usd',
      destination: account.id,
      transfer_group: 'inv_1',
      source_transaction: charge.id,
    };
    const t1 = await stripe.transfers.create(params, { idempotencyKey: 'xfer:inv_1:dev' });
    const t2 = await stripe.transfers.create(params, { idempotencyKey: 'xfer:inv_1:dev' });
    expect(t2.id).toBe(t1.id);
    expect(fake.objectsOf('transfer').filter((t) => t.transfer_group === 'inv_1')).toHaveLength(1);
    // Same key, other parameters: Stripe's idempotency error.
    await expect(
      stripe.transfers.create({ ...params, amount: 7_000 }, { idempotencyKey: 'xfer:inv_1:dev' }),
    ).rejects.toMatchObject({ type: 'StripeIdempotencyError' });
    // More than the charge through source_transaction is refused.
    await expect(stripe.transfers.create({ ...params, amount: 2_501 })).rejects.toMatchObject({
      statusCode: 400,
      param: 'amount',
    });

    // A partial refund: reverse the developer's share pro rata first, then refund.
    const rev = await stripe.transfers.createReversal(
      t1.id,
      { amount: 1_875 },
      { idempotencyKey: 'rev:re1:t1' },
    );
    expect(rev.amount).toBe(1_875);
    const refund = await stripe.refunds.create({ charge: charge.id, amount: 2_500 });
    expect(refund.status).toBe('succeeded');
    expect((await stripe.charges.retrieve(charge.id)).amount_refunded).toBe(2_500);
    await expect(stripe.refunds.create({ charge: charge.id, amount: 7_501 })).rejects.toMatchObject({
      code: 'amount_too_large',
    });

    // Once the partner has been paid out, a reversal fails for lack of funds.
    fake.payOutConnected(account.id);
    await expect(stripe.transfers.createReversal(t1.id, { amount: 100 })).rejects.toMatchObject({
      code: 'balance_insufficient',
    });

    // Balance transactions list what moved on the platform (newest first).
    const txns = await stripe.balanceTransactions.list({ limit: 100 });
    const forThis = txns.data.filter((t) =>
      [charge.id, t1.id, rev.id, refund.id].includes(t.source as string),
    );
    expect(forThis.map((t) => t.type).sort()).toEqual(['charge', 'refund', 'transfer', 'transfer_cancel']);
    expect(forThis.reduce((s, t) => s + t.net, 0)).toBe(9_680 - 7_500 + 1_875 - 2_500);

    await fake.flush();
    const types = received.map((r) => r.event.type);
    for (const t of [
      'checkout.session.completed',
      'payment_intent.succeeded',
      'charge.succeeded',
      'charge.refunded',
      'transfer.created',
      'transfer.reversed',
      'payout.paid',
    ])
      expect(types).toContain(t);
    expect(rejected).toEqual([]);
  });

  it('charges a saved card off session, declines a declining one, and runs disputes', async () => {
    const session = await stripe.checkout.sessions.create({
      mode: 'setup',
      currency: 'usd',
      success_url: 'http://plaza.test/ok',
    });
    const done = fake.completeCheckout(session.id);
    const customer = done.customer as string;
    const pms = await stripe.customers.listPaymentMethods(customer);
    const pi = await stripe.paymentIntents.create({
      amount: 2_000,
      currency: 'usd',
      customer,
      payment_method: pms.data[0]!.id,
      confirm: true,
      off_session: true,
      transfer_group: 'inv_2',
    });
    expect(pi.status).toBe('succeeded');

    const declining = await stripe.checkout.sessions.create({
      mode: 'setup',
      currency: 'usd',
      success_url: 'http://x.test/',
    });
    const d = fake.completeCheckout(declining.id, { decline: true });
    const bad = (await stripe.customers.listPaymentMethods(d.customer as string)).data[0]!;
    await expect(
      stripe.paymentIntents.create({
        amount: 2_000,
        currency: 'usd',
        customer: d.customer as string,
        payment_method: bad.id,
        confirm: true,
        off_session: true,
      }),
    ).rejects.toMatchObject({ type: 'StripeCardError', code: 'card_declined' });

    const dispute = fake.createDispute(pi.latest_charge as string);
    expect((await stripe.disputes.retrieve(dispute.id)).status).toBe('needs_response');
    fake.closeDispute(dispute.id, 'lost');
    expect((await stripe.disputes.retrieve(dispute.id)).status).toBe('lost');
    await fake.flush();
    expect(received.map((r) => r.event.type)).toEqual(
      expect.arrayContaining([
        'charge.dispute.created',
        'charge.dispute.closed',
        'payment_intent.payment_failed',
      ]),
    );
  });

  it('holds webhooks and delivers them twice and in reverse order', async () => {
    const before = received.length;
    fake.holdWebhooks();
    const a = await stripe.v2.core.accounts.create({ configuration: { recipient: {} } });
    fake.completeOnboarding(a.id);
    fake.requireInformation(a.id, ['external_account']);
    await fake.flush();
    expect(received.length).toBe(before);
    await fake.release({ order: 'reverse', twice: true });
    const got = received.slice(before).map((r) => r.event);
    expect(got).toHaveLength(4);
    expect(got[0]!.id).toBe(got[1]!.id);
    expect(got[0]!.created).toBeGreaterThanOrEqual(got[2]!.created);
    expect((got[0]!.data.object as Stripe.Account).requirements?.currently_due).toEqual(['external_account']);
  });

  it('answers 409 to a request whose idempotency key another request is still using, then replays the first', async () => {
    const account = await stripe.v2.core.accounts.create({
      dashboard: 'express',
      configuration: { recipient: {} },
    });
    fake.completeOnboarding(account.id);
    const session = await stripe.checkout.sessions.create({
      mode: 'payment',
      line_items: [
        { price_data: { currency: 'usd', unit_amount: 5_000, product_data: { name: 'Pro' } }, quantity: 1 },
      ],
      success_url: 'http://plaza.test/ok',
    });
    await fetch(`${session.url}/pay`, {
      method: 'POST',
      body: 'card=4242',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      redirect: 'manual',
    });
    const send = () =>
      stripe.transfers.create(
        { amount: 1_000, currency: 'usd', destination: account.id, transfer_group: 'inv_slow' },
        { idempotencyKey: 'xfer:inv_slow:org_1' },
      );
    fake.answerSlow('/v1/transfers', 400);
    const [first, second] = await Promise.allSettled([send(), send()]);
    fake.answerSlow('/v1/transfers', 0);
    expect(first.status).toBe('fulfilled');
    expect(second).toMatchObject({
      status: 'rejected',
      reason: { statusCode: 409, code: 'idempotency_key_in_use' },
    });
    const made = fake.objectsOf('transfer').filter((t) => t.transfer_group === 'inv_slow');
    expect(made).toHaveLength(1);
    // Once the first is through, the same key replays it.
    expect((await send()).id).toBe(made[0].id);
  });

  it('answers errors as Stripe does', async () => {
    await expect(stripe.charges.retrieve('ch_missing')).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
    await expect(
      stripe.transfers.create({ amount: -5, currency: 'usd', destination: 'acct_x' }),
    ).rejects.toMatchObject({ statusCode: 400 });
  });
});
