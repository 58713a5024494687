import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Pricing } from '../../server/modules/marketplace/index.ts';
import type { FakeStripe } from '../fake-stripe/server.ts';
import { type PlazaOnFakeStripe, startPlazaOnFakeStripe } from '../helpers/payments.ts';
import type { PlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { account, installApp, person, registerApp, withInstalledApp } from '../helpers/world.ts';

/**
 * Paid installs on the Stripe adapter against the fake Stripe: the install
 * gate asks for payment (Checkout), the signed webhook settles the invoice
 * into the ledger, renewals charge the saved card off session once per
 * period, usage is counted against the approved cap and charged at period
 * end, uninstall stops renewal, and webhooks delivered twice and out of
 * order have one effect.
 */
describe('paid installs (Stripe)', () => {
  let started: PlazaOnFakeStripe;
  let fake: FakeStripe;
  let plaza: PlazaServer;

  beforeAll(async () => {
    started = await startPlazaOnFakeStripe();
    ({ fake, plaza } = started);
  });
  afterAll(() => started?.close());

  async function paidApp(pricing: Pricing) {
    const app = await registerApp(plaza, { redirectUris: ['https://app.example.com/cb'], pricing });
    const owner = await person(plaza, 'Olive Owner');
    const acct = await account(plaza, owner, 'Paying Shop');
    const admit = () =>
      plaza.core.installations.admit({
        accountId: acct.org.id,
        appId: app.appId,
        versionId: app.versionId,
        grantedScopes: app.scopes,
        actor: owner.actor,
        via: 'consent',
      });
    return { app, owner, acct, admit };
  }

  const refusal = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      return err as { code: string; status: number; extra: Record<string, any>; message: string };
    }
    throw new Error('expected the install to be refused');
  };

  async function pay(url: string, card = '4242') {
    const res = await fetch(`${url}/pay`, {
      method: 'POST',
      body: `card=${card}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      redirect: 'manual',
    });
    await fake.flush();
    return res;
  }

  const subscriptions = async (accountId: string) => plaza.core.payments.subscriptions.list(accountId);
  const pending = (devOrgId: string) =>
    plaza.core.ledger.balance({ kind: 'partner_pending', party: devOrgId }, 'USD');

  it('asks for payment before installing a monthly app, then renews from the saved card once per period', async () => {
    const { app, acct, admit } = await paidApp({
      type: 'recurring',
      interval: 'month',
      amount: 2_000,
      currency: 'USD',
      trialDays: 0,
    });

    const first = await refusal(admit());
    expect(first).toMatchObject({ code: 'PLAZA_PAYMENT_REQUIRED', status: 402 });
    const url = first.extra.checkoutUrl as string;
    expect(url).toContain(fake.url);
    // Asking again gives the same payment page, not a second one.
    expect((await refusal(admit())).extra.checkoutUrl).toBe(url);
    expect(
      fake.objectsOf('checkout.session').filter((s) => s.metadata.plaza_account === acct.org.id),
    ).toHaveLength(1);

    const [sub] = await subscriptions(acct.org.id);
    expect(sub).toMatchObject({ status: 'pending_payment', sandbox: false, payUrl: url });
    const invoiceId = sub!.invoices[0]!.id;
    const session = fake.objectsOf('checkout.session').find((s) => s.metadata.plaza_invoice === invoiceId)!;
    expect(session.amount_total).toBe(2_000);

    const paid = await pay(url);
    expect(paid.headers.get('location')).toMatch(/\/marketplace\/.+\?payment=success$/);
    const charge = fake.objectsOf('charge').find((c) => c.transfer_group === invoiceId)!;
    expect(charge.amount).toBe(2_000);

    const active = (await subscriptions(acct.org.id))[0]!;
    expect(active.status).toBe('active');
    expect(active.invoices[0]).toMatchObject({ status: 'paid', amount: 2_000 });
    const periodEnd = new Date(active.currentPeriodEnd!);
    const monthLater = new Date(active.currentPeriodStart!);
    monthLater.setUTCMonth(monthLater.getUTCMonth() + 1);
    expect(periodEnd.getTime()).toBe(monthLater.getTime());
    // The ledger has the charge split: the developer's share is pending (75% of the net by default).
    const devShare = await pending(app.developer.org.id);
    expect(devShare).toBeGreaterThan(0n);
    expect(devShare).toBeLessThan(2_000n);
    // Now the install goes through.
    await expect(admit()).resolves.toBeUndefined();

    // The renewal job: one off-session charge for the next period, however often it runs.
    const at = new Date(periodEnd.getTime() + 1000);
    const r1 = await plaza.core.payments.subscriptions.renewDue(at);
    const r2 = await plaza.core.payments.subscriptions.renewDue(at);
    expect(r1).toMatchObject({ paid: 1, failed: 0 });
    expect(r2.invoices).toBe(0);
    const intents = fake
      .objectsOf('payment_intent')
      .filter((p) => p.metadata.plaza_subscription === active.id);
    expect(intents).toHaveLength(2);
    const renewed = (await subscriptions(acct.org.id))[0]!;
    expect(renewed.currentPeriodStart).toBe(active.currentPeriodEnd);
    expect(renewed.invoices.map((i) => [i.kind, i.status])).toEqual([
      ['renewal', 'paid'],
      ['initial', 'paid'],
    ]);
    expect(await pending(app.developer.org.id)).toBe(devShare * 2n);
    const verify = await plaza.core.ledger.verify();
    expect(verify.unbalanced).toEqual([]);
    expect(verify.mismatches).toEqual([]);

    // payment.succeeded for each, to the account.
    const events = await plaza.core.db.query(
      "SELECT payload FROM events WHERE organization_id = $1 AND type = 'payment.succeeded'",
      [acct.org.id],
    );
    expect(events.map((e) => e.payload.kind).sort()).toEqual(['initial', 'renewal']);
  });

  it("lets the developer's own test accounts install a paid app without paying", async () => {
    const app = await registerApp(plaza, {
      redirectUris: ['https://app.example.com/cb'],
      pricing: { type: 'one_time', amount: 9_900, currency: 'USD' },
    });
    const test = await plaza.core.organizations.createTestAccount(app.developer, { name: 'Dev test shop' });
    await expect(
      plaza.core.installations.admit({
        accountId: test.id,
        appId: app.appId,
        versionId: app.versionId,
        grantedScopes: app.scopes,
        actor: app.developerPerson.actor,
        via: 'consent',
      }),
    ).resolves.toBeUndefined();
    expect(await subscriptions(test.id)).toEqual([]);
  });

  it('stops renewing when the app is uninstalled', async () => {
    const { app, owner, acct, admit } = await paidApp({
      type: 'recurring',
      interval: 'year',
      amount: 12_000,
      currency: 'USD',
      trialDays: 0,
    });
    await pay((await refusal(admit())).extra.checkoutUrl);
    const inst = await installApp(plaza, app, acct.org.id, app.scopes);
    const ctx = await plaza.core.organizations.resolveContext(owner.actor, acct.org.id);
    await plaza.core.oauth.uninstall(ctx, inst.id);
    await waitFor(
      'the subscription to be canceled',
      async () => (await subscriptions(acct.org.id))[0]?.status === 'canceled',
    );
    const sub = (await subscriptions(acct.org.id))[0]!;
    await plaza.core.payments.subscriptions.renewDue(new Date(Date.parse(sub.currentPeriodEnd!) + 1000));
    expect((await subscriptions(acct.org.id))[0]!.invoices).toHaveLength(1);
    expect(
      fake.objectsOf('payment_intent').filter((p) => p.metadata.plaza_subscription === sub.id),
    ).toHaveLength(1);
    // Installing again starts a new subscription that asks to pay again.
    expect((await refusal(admit())).code).toBe('PLAZA_PAYMENT_REQUIRED');
  });

  it('counts usage against the approved cap and charges it at the end of the month', async () => {
    const pricing: Pricing = {
      type: 'usage',
      unitName: 'message',
      unitAmount: 5,
      currency: 'USD',
      cappedAmount: 1_000,
    };
    const { app, owner, acct, admit } = await paidApp(pricing);
    const first = await refusal(admit());
    expect(first.extra).toMatchObject({ amount: null });
    // A usage price saves a card first (Checkout in setup mode).
    const session = fake.objectsOf('checkout.session').find((s) => s.metadata.plaza_account === acct.org.id)!;
    expect(session.mode).toBe('setup');
    fake.completeCheckout(session.id);
    await fake.flush();
    expect((await subscriptions(acct.org.id))[0]).toMatchObject({ status: 'active', usageCap: 1_000 });

    const installed = await withInstalledApp(plaza, { app, owner, account: { id: acct.org.id } });
    const report = (key: string | null, quantity: number) => {
      const req = plaza.http.post('/v1/app/usage').set(installed.as).send({ quantity });
      return key ? req.set('idempotency-key', key) : req;
    };
    const r1 = await report('u-1', 120).expect(200);
    expect(r1.body).toMatchObject({ replayed: false, usedQuantity: 120, usedAmount: 600, cap: 1_000 });
    // The same key again counts nothing; with another quantity it is a conflict.
    expect((await report('u-1', 120).expect(200)).body).toMatchObject({ replayed: true, usedQuantity: 120 });
    await report('u-1', 7).expect(409);
    await report(null, 1).expect(400);
    await report('u-bad', 0).expect(400);
    await report('u-2', 80).expect(200);
    // 200 messages = 1000 cents = the cap; one more is refused.
    const over = await report('u-3', 1).expect(409);
    expect(over.body).toMatchObject({ code: 'PLAZA_USAGE_CAP_REACHED', cap: 1_000, used: 1_000 });

    const sub = (await subscriptions(acct.org.id))[0]!;
    expect(sub.usage).toEqual({ quantity: 200, amount: 1_000 });
    const r = await plaza.core.payments.subscriptions.renewDue(
      new Date(Date.parse(sub.currentPeriodEnd!) + 1000),
    );
    expect(r).toMatchObject({ paid: 1 });
    const after = (await subscriptions(acct.org.id))[0]!;
    expect(after.invoices[0]).toMatchObject({ kind: 'usage', amount: 1_000, status: 'paid' });
    expect(after.usage).toEqual({ quantity: 0, amount: 0 });
    expect(after.currentPeriodStart).toBe(sub.currentPeriodEnd);
  });

  it('lets a trial install at once; a renewal without a card or with a declining one is past due until paid', async () => {
    const { acct, admit } = await paidApp({
      type: 'recurring',
      interval: 'month',
      amount: 1_500,
      currency: 'USD',
      trialDays: 14,
    });
    await expect(admit()).resolves.toBeUndefined();
    const trial = (await subscriptions(acct.org.id))[0]!;
    expect(trial.status).toBe('trialing');
    expect(Date.parse(trial.trialEnd!) - Date.parse(trial.currentPeriodStart!)).toBe(14 * 86_400_000);

    const r = await plaza.core.payments.subscriptions.renewDue(new Date(Date.parse(trial.trialEnd!) + 1000));
    expect(r).toMatchObject({ failed: 1 });
    const due = (await subscriptions(acct.org.id))[0]!;
    expect(due.status).toBe('past_due');
    expect(due.invoices[0]).toMatchObject({ kind: 'renewal', status: 'open' });
    expect(due.invoices[0]!.failure).toContain('No saved card');
    const failed = await plaza.core.db.query(
      "SELECT 1 FROM events WHERE organization_id = $1 AND type = 'payment.failed'",
      [acct.org.id],
    );
    expect(failed).toHaveLength(1);

    // The admin pays by hand; a declining card first.
    const link = await plaza.core.payments.subscriptions.payLink(acct.org.id, due.id);
    const declined = await pay(link, '0002');
    expect(declined.status).toBe(200);
    expect((await subscriptions(acct.org.id))[0]!.status).toBe('past_due');
    await pay(link);
    const active = (await subscriptions(acct.org.id))[0]!;
    expect(active).toMatchObject({ status: 'active', currentPeriodStart: trial.trialEnd });
    await expect(admit()).resolves.toBeUndefined();
    // The trial started once and ended converted once, when the first invoice after it was paid (not at the failure).
    expect(await trialEvents(acct.org.id)).toEqual([
      {
        type: 'trial.started',
        payload: expect.objectContaining({ subscriptionId: trial.id, trialDays: 14 }),
      },
      {
        type: 'trial.ended',
        payload: expect.objectContaining({ subscriptionId: trial.id, converted: true, reason: 'paid' }),
      },
    ]);
    // A later renewal converts nothing again.
    await plaza.core.payments.subscriptions.renewDue(new Date(Date.parse(active.currentPeriodEnd!) + 1000));
    expect(await trialEvents(acct.org.id)).toHaveLength(2);
  });

  const trialEvents = (accountId: string) =>
    plaza.core.db.query(
      "SELECT type, payload FROM events WHERE organization_id = $1 AND type LIKE 'trial.%' ORDER BY created_at, type DESC",
      [accountId],
    );

  it('a trial uninstalled before any payment ends not converted, once', async () => {
    const { acct, admit } = await paidApp({
      type: 'recurring',
      interval: 'month',
      amount: 900,
      currency: 'USD',
      trialDays: 7,
    });
    await admit();
    const [trial] = await subscriptions(acct.org.id);
    await plaza.core.payments.subscriptions.cancel(acct.org.id, trial!.appId);
    await plaza.core.payments.subscriptions.cancel(acct.org.id, trial!.appId);
    expect(await trialEvents(acct.org.id)).toEqual([
      {
        type: 'trial.started',
        payload: expect.objectContaining({ subscriptionId: trial!.id, trialDays: 7 }),
      },
      {
        type: 'trial.ended',
        payload: expect.objectContaining({ subscriptionId: trial!.id, converted: false, reason: 'canceled' }),
      },
    ]);
  });

  it('fault: the same webhooks delivered twice and in reverse order settle the invoice once and the ledger balances', async () => {
    const { app, acct, admit } = await paidApp({ type: 'one_time', amount: 5_000, currency: 'USD' });
    const url = (await refusal(admit())).extra.checkoutUrl as string;
    const before = await pending(app.developer.org.id);
    fake.holdWebhooks();
    await pay(url);
    const held = fake.events.filter(
      (e) => e.data.object.metadata?.plaza_account === acct.org.id || e.data.object.transfer_group,
    );
    expect(held.map((e) => e.type)).toEqual(
      expect.arrayContaining(['checkout.session.completed', 'charge.succeeded']),
    );
    // Nothing settled yet: the customer's install still waits for the webhook.
    expect((await subscriptions(acct.org.id))[0]!.status).toBe('pending_payment');
    await fake.release({ order: 'reverse', twice: true });

    const sub = (await subscriptions(acct.org.id))[0]!;
    expect(sub.status).toBe('active');
    expect(sub.invoices).toHaveLength(1);
    expect(sub.invoices[0]).toMatchObject({ status: 'paid', amount: 5_000 });
    const completed = fake.events.filter(
      (e) => e.type === 'checkout.session.completed' && e.data.object.metadata?.plaza_account === acct.org.id,
    );
    expect(completed).toHaveLength(1);
    const answers = fake.deliveries.filter((d) => d.eventId === completed[0]!.id);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    const charges = await plaza.core.db.query('SELECT 1 FROM ledger_charges WHERE invoice_id = $1', [
      sub.invoices[0]!.id,
    ]);
    expect(charges).toHaveLength(1);
    const share = (await pending(app.developer.org.id)) - before;
    expect(share).toBeGreaterThan(0n);
    // A third delivery later changes nothing either.
    await fake.resend(completed[0]!.id);
    expect((await pending(app.developer.org.id)) - before).toBe(share);
    const verify = await plaza.core.ledger.verify();
    expect(verify.unbalanced).toEqual([]);
    expect(verify.mismatches).toEqual([]);
    // One-time: nothing renews.
    await plaza.core.payments.subscriptions.renewDue(new Date(Date.now() + 400 * 86_400_000));
    expect((await subscriptions(acct.org.id))[0]!.invoices).toHaveLength(1);
  });
});
