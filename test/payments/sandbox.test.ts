import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { developer } from '../helpers/apps.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { account, person, registerApp, signInWithPlatformRole } from '../helpers/world.ts';

/**
 * The embedded sandbox provider (no STRIPE_SECRET_KEY): the same money flow
 * as Stripe test mode, on Plaza's own pages, saying "sandbox" everywhere.
 */
describe('sandbox provider', () => {
  let plaza: TestPlaza;
  beforeAll(async () => {
    plaza = await startPlaza();
  });
  afterAll(async () => {
    await plaza?.close();
  });

  it('is the default without a Stripe key and says so', async () => {
    const res = await plaza.http.get('/v1/payments/provider').expect(200);
    expect(res.body).toEqual({ provider: 'sandbox', mode: 'sandbox', sandbox: true });
    // The Stripe webhook endpoint is not there without Stripe.
    await plaza.http
      .post('/v1/payments/stripe/webhook')
      .set('content-type', 'application/json')
      .set('stripe-signature', 't=1,v1=x')
      .send('{}')
      .expect(404);
  });

  it('onboards a payout account through a single-use sandbox link', async () => {
    const dev = await developer(plaza);
    const api = (path: string) =>
      dev.agent.post(`/v1/organizations/${dev.orgId}/payouts/account${path}`).set('x-csrf-token', dev.csrf);
    const connected = (await api('').send({}).expect(200)).body;
    expect(connected).toMatchObject({ provider: 'sandbox', sandbox: true, state: 'onboarding' });
    expect(connected.accountId).toMatch(/^acct_sbx_/);

    const link = (await api('/onboarding-link').expect(200)).body;
    const token = new URL(link.url).pathname.split('/').pop();
    expect(link.url).toMatch(/\/sandbox\/onboarding\//);
    const opened = await plaza.http.get(`/v1/payments/sandbox/onboarding/${token}`).expect(200);
    expect(opened.body).toMatchObject({ sandbox: true, usable: true, accountId: connected.accountId });
    // A second open of the same link is not usable: the page goes to the refresh URL.
    const reopened = await plaza.http.get(`/v1/payments/sandbox/onboarding/${token}`).expect(200);
    expect(reopened.body.usable).toBe(false);
    expect(reopened.body.refreshUrl).toContain(`/orgs/${dev.orgId}/payouts-account?onboarding=refresh`);

    const done = await plaza.http
      .post(`/v1/payments/sandbox/onboarding/${token}`)
      .send({ submit: true })
      .expect(200);
    expect(done.body.redirect).toContain('onboarding=return');
    const status = (await dev.agent.get(`/v1/organizations/${dev.orgId}/payouts/account`).expect(200)).body;
    expect(status).toMatchObject({ state: 'active', canReceivePayouts: true, holdReason: null });
    // Submitting twice does nothing more: the link is spent.
    const again = await plaza.http
      .post(`/v1/payments/sandbox/onboarding/${token}`)
      .send({ submit: true })
      .expect(200);
    expect(again.body.redirect).toContain('onboarding=refresh');
  });

  it('takes a payment on its page, declines the declining card, transfers and refunds like Stripe', async () => {
    const { provider, sandbox } = plaza.core.payments;
    const dev = await developer(plaza);
    const api = (path: string) =>
      dev.agent.post(`/v1/organizations/${dev.orgId}/payouts/account${path}`).set('x-csrf-token', dev.csrf);
    const { accountId } = (await api('').send({}).expect(200)).body;

    const session = await provider.createCheckout({
      idempotencyKey: 'checkout:inv_sbx_1',
      mode: 'payment',
      amount: 10_000n,
      currency: 'USD',
      description: 'Pro plan',
      transferGroup: 'inv_sbx_1',
      saveCard: true,
      successUrl: 'http://plaza.test/ok?session={CHECKOUT_SESSION_ID}',
      cancelUrl: 'http://plaza.test/cancel',
      metadata: { invoice: 'inv_sbx_1' },
    });
    const page = await plaza.http.get(`/v1/payments/sandbox/checkout/${session.sessionId}`).expect(200);
    expect(page.body).toMatchObject({ sandbox: true, amount: 10_000, currency: 'USD', status: 'open' });
    const declined = await plaza.http
      .post(`/v1/payments/sandbox/checkout/${session.sessionId}/pay`)
      .send({ card: '4000 0000 0000 0002' })
      .expect(200);
    expect(declined.body).toEqual({ paid: false, redirect: null });
    const paid = await plaza.http
      .post(`/v1/payments/sandbox/checkout/${session.sessionId}/pay`)
      .send({ card: '4242 4242 4242 4242' })
      .expect(200);
    expect(paid.body).toEqual({ paid: true, redirect: `http://plaza.test/ok?session=${session.sessionId}` });
    await plaza.http
      .post(`/v1/payments/sandbox/checkout/${session.sessionId}/pay`)
      .send({ card: '4242424242424242' })
      .expect(409);

    const done = await provider.retrieveCheckout(session.sessionId);
    const charge = await provider.retrieveCharge(done.paymentIntentId!);
    expect(charge).toMatchObject({ amount: 10_000n, fee: 320n, currency: 'USD', transferGroup: 'inv_sbx_1' });

    // Not onboarded yet: the transfer is refused.
    const req = {
      idempotencyKey: 'xfer:inv_sbx_1:dev',
      partnerOrgId: dev.orgId,
      destinationAccountId: accountId,
      amount: 7_500n,
      currency: 'USD',
      transferGroup: 'inv_sbx_1',
      sourceTransaction: charge.chargeId,
    };
    await expect(provider.transfer(req)).rejects.toMatchObject({ code: 'account_restricted' });
    const link = (await api('/onboarding-link').expect(200)).body;
    const token = new URL(link.url).pathname.split('/').pop();
    await plaza.http.get(`/v1/payments/sandbox/onboarding/${token}`).expect(200);
    await plaza.http.post(`/v1/payments/sandbox/onboarding/${token}`).send({ submit: true }).expect(200);

    const t1 = await provider.transfer(req);
    const t2 = await provider.transfer(req);
    expect(t2.transferId).toBe(t1.transferId);
    await expect(
      provider.transfer({ ...req, idempotencyKey: 'xfer:other', amount: 2_501n }),
    ).rejects.toMatchObject({
      code: 'amount_too_large',
    });
    const rev = await provider.reverseTransfer({
      idempotencyKey: 'rev:r1:t1',
      transferId: t1.transferId,
      amount: 1_875n,
      metadata: {},
    });
    expect(rev.reversalId).toMatch(/^trr_sbx_/);
    const refund = await provider.refund({
      idempotencyKey: 'refund:r1',
      chargeId: charge.chargeId,
      amount: 2_500n,
      metadata: {},
    });
    expect(refund.status).toBe('succeeded');
    await expect(
      provider.refund({
        idempotencyKey: 'refund:r2',
        chargeId: charge.chargeId,
        amount: 7_501n,
        metadata: {},
      }),
    ).rejects.toMatchObject({ code: 'amount_too_large' });
    expect(await provider.accountBalance(accountId)).toEqual([{ currency: 'USD', amount: 7_500n - 1_875n }]);

    const txns = [];
    for await (const t of provider.balanceTransactions({
      from: new Date(Date.now() - 60_000),
      to: new Date(Date.now() + 1000),
    }))
      if ([charge.chargeId, t1.transferId, rev.reversalId, refund.refundId].includes(t.source)) txns.push(t);
    expect(txns.map((t) => t.type)).toEqual(['charge', 'transfer', 'transfer_cancel', 'refund']);
    expect(txns.reduce((s, t) => s + t.net, 0n)).toBe(9_680n - 7_500n + 1_875n - 2_500n);
    expect(sandbox).not.toBeNull();
  });

  it('runs a paid install end to end: 402 with a sandbox payment page, paid, recorded in the ledger, renewed', async () => {
    const app = await registerApp(plaza, {
      redirectUris: ['https://app.example.com/cb'],
      pricing: { type: 'recurring', interval: 'month', amount: 4_900, currency: 'USD', trialDays: 0 },
    });
    const owner = await person(plaza, 'Olive Owner');
    const acct = await account(plaza, owner, 'Sandbox Shop');
    const admit = () =>
      plaza.core.installations.admit({
        accountId: acct.org.id,
        appId: app.appId,
        versionId: app.versionId,
        grantedScopes: app.scopes,
        actor: owner.actor,
        via: 'consent',
      });
    const refused = await admit().then(
      () => null,
      (err) => err,
    );
    expect(refused).toMatchObject({
      code: 'PLAZA_PAYMENT_REQUIRED',
      extra: { sandbox: true, amount: 4_900 },
    });
    const url = new URL(refused.extra.checkoutUrl);
    expect(url.pathname).toMatch(/^\/sandbox\/checkout\/cs_sbx_/);
    const sessionId = url.pathname.split('/').pop();
    await plaza.http
      .post(`/v1/payments/sandbox/checkout/${sessionId}/pay`)
      .send({ card: '4242424242424242' })
      .expect(200);

    const [sub] = await plaza.core.payments.subscriptions.list(acct.org.id);
    expect(sub).toMatchObject({ status: 'active', sandbox: true, provider: 'sandbox' });
    const pending = () =>
      plaza.core.ledger.balance({ kind: 'partner_pending', party: app.developer.org.id }, 'USD');
    const first = await pending();
    expect(first).toBeGreaterThan(0n);
    await expect(admit()).resolves.toBeUndefined();

    const r = await plaza.core.payments.subscriptions.renewDue(
      new Date(Date.parse(sub!.currentPeriodEnd!) + 1000),
    );
    expect(r).toMatchObject({ paid: 1, failed: 0 });
    expect(await pending()).toBe(first * 2n);
    const v = await plaza.core.ledger.verify();
    expect(v.unbalanced).toEqual([]);
    expect(v.mismatches).toEqual([]);
  });

  it('simulates disputes for the operator, labelled sandbox: opened holds the share, lost takes it, won gives it back', async () => {
    // Reconciled from here on: an earlier test of this file moves sandbox money with no ledger on purpose.
    const started = new Date();
    const app = await registerApp(plaza, {
      redirectUris: ['https://app.example.com/cb'],
      pricing: { type: 'recurring', interval: 'month', amount: 8_000, currency: 'USD', trialDays: 0 },
    });
    const dev = app.developer.org.id;
    const buy = async (name: string) => {
      const owner = await person(plaza, `${name} Owner`);
      const acct = await account(plaza, owner, `${name} Shop`);
      const refused = await plaza.core.installations
        .admit({
          accountId: acct.org.id,
          appId: app.appId,
          versionId: app.versionId,
          grantedScopes: app.scopes,
          actor: owner.actor,
          via: 'consent',
        })
        .then(
          () => null,
          (err) => err,
        );
      const sessionId = new URL(refused.extra.checkoutUrl).pathname.split('/').pop();
      await plaza.http
        .post(`/v1/payments/sandbox/checkout/${sessionId}/pay`)
        .send({ card: '4242424242424242' })
        .expect(200);
      const [sub] = await plaza.core.payments.subscriptions.list(acct.org.id);
      return sub!.invoices[0]!.id;
    };
    const bal = (kind: 'partner_pending' | 'disputes_held' | 'receivable_from_partner') =>
      plaza.core.ledger.balance({ kind, party: dev }, 'USD');
    const first = await buy('Disputed');
    const share = await bal('partner_pending');
    const operator = await signInWithPlatformRole(plaza, 'admin');
    const dispute = (invoiceId: string, path = '') =>
      operator.agent
        .post(`/v1/admin/payments/invoices/${invoiceId}/sandbox-dispute${path}`)
        .set('x-csrf-token', operator.csrf);

    const opened = (await dispute(first).send({ reason: 'product_not_received' }).expect(201)).body;
    expect(opened).toMatchObject({
      sandbox: true,
      invoiceId: first,
      status: 'needs_response',
      amount: 8_000,
      fee: 1_500,
      reason: 'product_not_received',
    });
    expect(opened.id).toMatch(/^dp_sbx_/);
    expect(await bal('disputes_held')).toBe(share);
    expect(await bal('partner_pending')).toBe(0n);
    // One dispute per charge, as on Stripe; only a platform admin simulates one.
    await dispute(first).send({}).expect(409);
    const reviewer = await signInWithPlatformRole(plaza, 'reviewer');
    await reviewer.agent
      .post(`/v1/admin/payments/invoices/${first}/sandbox-dispute`)
      .set('x-csrf-token', reviewer.csrf)
      .send({})
      .expect(403);

    const lost = (await dispute(first, '/close').send({ outcome: 'lost' }).expect(200)).body;
    expect(lost).toMatchObject({
      sandbox: true,
      id: opened.id,
      status: 'lost',
      reversals: [],
      unreversed: [],
    });
    expect(lost.closedAt).not.toBeNull();
    expect(await bal('disputes_held')).toBe(0n);
    expect(await bal('receivable_from_partner')).toBe(0n);
    await dispute(first, '/close').send({ outcome: 'won' }).expect(409);

    const second = await buy('Won');
    const bad = await dispute(second).send({ amount: 9_000 }).expect(400);
    expect(bad.body.fields).toEqual([expect.objectContaining({ field: 'body.amount' })]);
    await dispute(second).send({ amount: 2_000 }).expect(201);
    expect(await bal('disputes_held')).toBeGreaterThan(0n);
    const won = (await dispute(second, '/close').send({ outcome: 'won' }).expect(200)).body;
    expect(won).toMatchObject({ status: 'won', amount: 2_000 });
    expect(await bal('disputes_held')).toBe(0n);
    expect(await bal('partner_pending')).toBe(share);

    const v = await plaza.core.ledger.verify();
    expect(v).toMatchObject({ mismatches: [], unbalanced: [] });
    const rec = await plaza.core.ledger.reconcile({ from: started, to: new Date(Date.now() + 2000) });
    expect(rec.differences).toEqual([]);
  });
});
