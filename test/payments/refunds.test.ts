import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeStripe } from '../fake-stripe/server.ts';
import { type PlazaOnFakeStripe, startPlazaOnFakeStripe } from '../helpers/payments.ts';
import type { PlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { account, person, registerApp, signInWithPlatformRole } from '../helpers/world.ts';

/**
 * Refunds and disputes on the Stripe adapter against the fake Stripe: a
 * partial refund before the payout takes the developer's share back from
 * the ledger balance; after the payout run transferred it (transfer_group =
 * invoice, source_transaction = charge), the share is reversed pro rata
 * BEFORE the customer is refunded; once the developer was paid out by
 * Stripe, the reversal fails and the share stays a receivable. The ledger
 * balances throughout.
 */
describe('refunds and disputes (Stripe)', () => {
  let started: PlazaOnFakeStripe;
  let fake: FakeStripe;
  let plaza: PlazaServer;

  beforeAll(async () => {
    started = await startPlazaOnFakeStripe();
    ({ fake, plaza } = started);
  });
  afterAll(() => started?.close());

  async function paidInvoice(amount: number) {
    const app = await registerApp(plaza, {
      redirectUris: ['https://app.example.com/cb'],
      pricing: { type: 'one_time', amount, currency: 'USD' },
    });
    // The developer connects and finishes onboarding.
    const dev = app.developerPerson;
    const devAgent = supertest.agent(plaza.app.callback());
    const login = await devAgent
      .post('/v1/auth/login')
      .send({ email: dev.email, password: dev.password })
      .expect(200);
    const csrf = login.body.csrfToken as string;
    const devOrg = app.developer.org.id;
    const { accountId } = (
      await devAgent
        .post(`/v1/organizations/${devOrg}/payouts/account`)
        .set('x-csrf-token', csrf)
        .send({})
        .expect(200)
    ).body;
    fake.completeOnboarding(accountId);
    await fake.flush();

    const owner = await person(plaza, 'Olive Owner');
    const acct = await account(plaza, owner, 'Refund Shop');
    let url = '';
    try {
      await plaza.core.installations.admit({
        accountId: acct.org.id,
        appId: app.appId,
        versionId: app.versionId,
        grantedScopes: app.scopes,
        actor: owner.actor,
        via: 'consent',
      });
    } catch (err) {
      url = (err as { extra: { checkoutUrl: string } }).extra.checkoutUrl;
    }
    await fetch(`${url}/pay`, {
      method: 'POST',
      body: 'card=4242',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      redirect: 'manual',
    });
    await fake.flush();
    const [sub] = await plaza.core.payments.subscriptions.list(acct.org.id);
    const invoice = sub!.invoices[0]!;
    expect(invoice.status).toBe('paid');
    const charge = fake.objectsOf('charge').find((c) => c.transfer_group === invoice.id)!;
    return { app, devAgent, csrf, devOrg, accountId, acct, invoice, charge };
  }

  const balance = (kind: 'partner_pending' | 'partner_payable' | 'receivable_from_partner', party: string) =>
    plaza.core.ledger.balance({ kind, party }, 'USD');

  async function expectBalanced() {
    const v = await plaza.core.ledger.verify();
    expect(v.unbalanced).toEqual([]);
    expect(v.mismatches).toEqual([]);
  }

  it('refunds before and after the payout: balance first, then reversals before the refund, then a receivable', async () => {
    const started = new Date(Date.now() - 2000);
    const { devAgent, csrf, devOrg, accountId, acct, invoice, charge } = await paidInvoice(10_000);
    const operator = await signInWithPlatformRole(plaza, 'admin');
    const pendingBefore = await balance('partner_pending', devOrg);
    expect(pendingBefore).toBeGreaterThan(0n);

    // 1. Operator refunds 25% before any payout: the developer's share comes back from the pending balance.
    const r1 = await operator.agent
      .post(`/v1/admin/payments/invoices/${invoice.id}/refunds`)
      .set('x-csrf-token', operator.csrf)
      .set('idempotency-key', 'refund-1')
      .send({ amount: 2_500, reason: 'requested_by_customer' })
      .expect(201);
    expect(r1.body).toMatchObject({ status: 'succeeded', amount: 2_500, reversals: [], unreversed: [] });
    // The same key again is the same refund, not a second one.
    const again = await operator.agent
      .post(`/v1/admin/payments/invoices/${invoice.id}/refunds`)
      .set('x-csrf-token', operator.csrf)
      .set('idempotency-key', 'refund-1')
      .send({ amount: 2_500, reason: 'requested_by_customer' })
      .expect(201);
    expect(again.body.id).toBe(r1.body.id);
    expect(fake.objectsOf('refund').filter((r) => r.charge === charge.id)).toHaveLength(1);
    const pendingAfter = await balance('partner_pending', devOrg);
    expect(pendingAfter).toBe(pendingBefore - (pendingBefore * 2_500n) / 10_000n);
    await expectBalanced();

    // 2. The payout terms run out and the payout run transfers the developer's share.
    await plaza.core.db.query(
      "UPDATE ledger_partner_lines SET available_at = now() - interval '1 day' WHERE invoice_id = $1",
      [invoice.id],
    );
    await plaza.core.ledger.runPayouts('manual');
    const transfer = fake.objectsOf('transfer').find((t) => t.transfer_group === invoice.id)!;
    expect(transfer).toMatchObject({
      destination: accountId,
      source_transaction: charge.id,
      amount: Number(pendingAfter),
    });
    expect(await balance('partner_payable', devOrg)).toBe(0n);

    // 3. The developer refunds 20% more: the share is reversed pro rata before the customer is refunded.
    const r2 = await devAgent
      .post(`/v1/organizations/${devOrg}/invoices/${invoice.id}/refunds`)
      .set('x-csrf-token', csrf)
      .set('idempotency-key', 'refund-2')
      .send({ amount: 2_000 })
      .expect(201);
    expect(r2.body.status).toBe('succeeded');
    expect(r2.body.reversals).toHaveLength(1);
    const reversal = r2.body.reversals[0];
    expect(reversal).toMatchObject({ partner: devOrg, transferId: transfer.id });
    expect(reversal.amount).toBe(Number((pendingBefore * 2_000n) / 10_000n));
    const order = fake.requests
      .filter(
        (q) =>
          q.idempotencyKey === `rev:${r2.body.id}:${transfer.id}` ||
          q.idempotencyKey === `refund:${r2.body.id}`,
      )
      .map((q) => q.path);
    expect(order).toEqual([`/v1/transfers/${transfer.id}/reversals`, '/v1/refunds']);
    expect(await balance('receivable_from_partner', devOrg)).toBe(0n);
    await expectBalanced();

    // 4. Stripe pays the developer out; refunding the rest cannot reverse: a receivable from the developer.
    fake.payOutConnected(accountId);
    const r3 = await operator.agent
      .post(`/v1/admin/payments/invoices/${invoice.id}/refunds`)
      .set('x-csrf-token', operator.csrf)
      .send({})
      .expect(201);
    expect(r3.body).toMatchObject({ status: 'succeeded', amount: 5_500, reversals: [] });
    expect(r3.body.unreversed).toHaveLength(1);
    expect(r3.body.unreversed[0].why).toMatch(/insufficient|no longer/i);
    expect(await balance('receivable_from_partner', devOrg)).toBe(BigInt(r3.body.unreversed[0].amount));
    expect((await fake.client().charges.retrieve(charge.id)).refunded).toBe(true);
    await expectBalanced();

    // Nothing left to refund; the customer's invoice shows it.
    await operator.agent
      .post(`/v1/admin/payments/invoices/${invoice.id}/refunds`)
      .set('x-csrf-token', operator.csrf)
      .send({ amount: 1 })
      .expect(409);
    const [sub] = await plaza.core.payments.subscriptions.list(acct.org.id);
    expect(sub!.invoices[0]!.amountRefunded).toBe(10_000);
    const refunded = await plaza.core.db.query(
      "SELECT payload FROM events WHERE organization_id = $1 AND type = 'payment.refunded'",
      [acct.org.id],
    );
    expect(refunded.map((e) => e.payload.amount).sort()).toEqual([2_000, 2_500, 5_500]);

    // The ledger's reconciliation against Stripe's balance transactions finds no difference.
    const rec = await plaza.core.ledger.reconcile({ from: started, to: new Date(Date.now() + 2000) });
    expect(rec.differences).toEqual([]);
  });

  it('refuses bad refunds with clear 4xx and lets a developer refund only its own apps', async () => {
    const { invoice } = await paidInvoice(3_000);
    const other = await paidInvoice(3_000);
    const operator = await signInWithPlatformRole(plaza, 'admin');
    const post = (body: unknown) =>
      operator.agent
        .post(`/v1/admin/payments/invoices/${invoice.id}/refunds`)
        .set('x-csrf-token', operator.csrf)
        .send(body as object);
    for (const amount of [-5, 0, 12.5, '100']) {
      const res = await post({ amount }).expect(400);
      expect(res.body).toMatchObject({ code: 'PLAZA_VALIDATION', fields: [{ field: 'body.amount' }] });
    }
    expect((await post({ amount: 3_001 }).expect(400)).body.fields[0].reason).toContain('at most 3000');
    await operator.agent
      .post('/v1/admin/payments/invoices/inv_nope/refunds')
      .set('x-csrf-token', operator.csrf)
      .send({})
      .expect(404);
    // Another developer's invoice is not found for this developer.
    await other.devAgent
      .post(`/v1/organizations/${other.devOrg}/invoices/${invoice.id}/refunds`)
      .set('x-csrf-token', other.csrf)
      .send({ amount: 100 })
      .expect(404);
    expect(fake.objectsOf('refund').filter((r) => r.metadata.plaza_invoice === invoice.id)).toHaveLength(0);
  });

  const held = (party: string) => plaza.core.ledger.balance({ kind: 'disputes_held', party }, 'USD');
  const losses = () => plaza.core.ledger.balance({ kind: 'dispute_losses' }, 'USD');
  const transfersOf = (invoiceId: string) =>
    fake.objectsOf('transfer').filter((t) => t.transfer_group === invoiceId);
  const termsRunOut = (invoiceId: string) =>
    plaza.core.db.query(
      "UPDATE ledger_partner_lines SET available_at = now() - interval '1 day' WHERE invoice_id = $1",
      [invoiceId],
    );

  it('keeps disputes in step from charge.dispute.created and .closed, holding the share from payouts', async () => {
    const started = new Date(Date.now() - 2000);
    const { invoice, charge, devOrg } = await paidInvoice(4_000);
    const share = await balance('partner_pending', devOrg);
    expect(share).toBeGreaterThan(0n);
    const lossesBefore = await losses();
    const dispute = fake.createDispute(charge.id);
    await fake.flush();
    await waitFor(
      'the dispute',
      async () => (await plaza.core.payments.refunds.disputesOf(invoice.id)).length === 1,
    );
    expect((await plaza.core.payments.refunds.disputesOf(invoice.id))[0]).toMatchObject({
      id: dispute.id,
      status: 'needs_response',
      amount: 4000,
    });
    // Opened: the developer's whole share is held, out of its balance; the amount and the fee are out of cash.
    expect(await held(devOrg)).toBe(share);
    expect(await balance('partner_pending', devOrg)).toBe(0n);
    expect((await losses()) - lossesBefore).toBe(4_000n + 1_500n);
    await expectBalanced();

    // A payout run after the payout terms ran out pays none of the held share.
    await termsRunOut(invoice.id);
    await plaza.core.ledger.runPayouts('manual');
    expect(transfersOf(invoice.id)).toEqual([]);
    expect(await balance('partner_payable', devOrg)).toBe(0n);
    expect(await held(devOrg)).toBe(share);

    fake.closeDispute(dispute.id, 'lost');
    await fake.flush();
    const [closed] = await plaza.core.payments.refunds.disputesOf(invoice.id);
    expect(closed).toMatchObject({ status: 'lost' });
    expect(closed!.closed_at).not.toBeNull();
    // Lost: the developer's share goes as in a refund; the platform keeps its share of the loss and the fee.
    expect(await held(devOrg)).toBe(0n);
    expect(await balance('partner_payable', devOrg)).toBe(0n);
    expect(await balance('receivable_from_partner', devOrg)).toBe(0n);
    expect((await losses()) - lossesBefore).toBe(4_000n + 1_500n - share);
    await plaza.core.ledger.runPayouts('manual');
    expect(transfersOf(invoice.id)).toEqual([]);
    await expectBalanced();

    // Another dispute whose events arrive twice and closed-first ends in the provider's state.
    const second = await paidInvoice(10_000);
    const secondShare = await balance('partner_pending', second.devOrg);
    const lossesBeforeSecond = await losses();
    fake.holdWebhooks();
    const d2 = fake.createDispute(second.charge.id);
    fake.closeDispute(d2.id, 'won');
    await fake.release({ order: 'reverse', twice: true });
    const rows = await plaza.core.payments.refunds.disputesOf(second.invoice.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ id: d2.id, status: 'won', fee: 1500 });
    // Won: the share is the developer's again and only the fee is lost; each phase posted once.
    expect(await held(second.devOrg)).toBe(0n);
    expect(await balance('partner_pending', second.devOrg)).toBe(secondShare);
    expect((await losses()) - lossesBeforeSecond).toBe(1_500n);
    const posted = await plaza.core.db.query(
      'SELECT idempotency_key FROM ledger_transactions WHERE idempotency_key LIKE $1 ORDER BY 1',
      [`dispute:${d2.id}:%`],
    );
    expect(posted.map((r) => r.idempotency_key)).toEqual([`dispute:${d2.id}:opened`, `dispute:${d2.id}:won`]);
    await expectBalanced();
    // Released by the win, the share is paid out in full.
    await termsRunOut(second.invoice.id);
    await plaza.core.ledger.runPayouts('manual');
    expect(transfersOf(second.invoice.id).map((t) => t.amount)).toEqual([Number(secondShare)]);

    // The ledger matches Stripe's balance transactions, disputes and their fees included.
    const rec = await plaza.core.ledger.reconcile({ from: started, to: new Date(Date.now() + 2000) });
    expect(rec.differences).toEqual([]);
  });

  it('a lost dispute after the payout reverses the paid share from the transfer at Stripe; refused once paid out, it is netted', async () => {
    const started = new Date(Date.now() - 2000);
    const { invoice, charge, devOrg } = await paidInvoice(6_000);
    const share = await balance('partner_pending', devOrg);
    await termsRunOut(invoice.id);
    await plaza.core.ledger.runPayouts('manual');
    const [transfer] = transfersOf(invoice.id);
    expect(transfer.amount).toBe(Number(share));

    const dispute = fake.createDispute(charge.id);
    await fake.flush();
    // Already transferred: nothing of the share is left in the developer's balance to hold.
    expect(await held(devOrg)).toBe(0n);
    fake.closeDispute(dispute.id, 'lost');
    await fake.flush();
    const [lost] = await plaza.core.payments.refunds.disputesOf(invoice.id);
    expect(lost).toMatchObject({ status: 'lost', unreversed: [] });
    expect(lost!.reversals).toEqual([
      expect.objectContaining({ partner: devOrg, transferId: transfer.id, amount: Number(share) }),
    ]);
    // Taken back at Stripe, once, keyed on the dispute and the transfer: the developer owes nothing.
    const reversed = fake.objectsOf('transfer_reversal').filter((r) => r.transfer === transfer.id);
    expect(reversed).toHaveLength(1);
    expect(reversed[0]).toMatchObject({ id: lost!.reversals[0].reversalId, amount: Number(share) });
    expect(
      fake.requests.filter((q) => q.idempotencyKey === `rev:${dispute.id}:${transfer.id}`).map((q) => q.path),
    ).toEqual([`/v1/transfers/${transfer.id}/reversals`]);
    expect(await balance('receivable_from_partner', devOrg)).toBe(0n);
    await expectBalanced();

    // Paid out by Stripe before the dispute is lost: the reversal is refused and the share is owed.
    const second = await paidInvoice(5_000);
    const secondShare = await balance('partner_pending', second.devOrg);
    await termsRunOut(second.invoice.id);
    await plaza.core.ledger.runPayouts('manual');
    fake.payOutConnected(second.accountId);
    const d2 = fake.createDispute(second.charge.id);
    fake.closeDispute(d2.id, 'lost');
    await fake.flush();
    const [refused] = await plaza.core.payments.refunds.disputesOf(second.invoice.id);
    expect(refused).toMatchObject({ status: 'lost', reversals: [] });
    expect(refused!.unreversed).toEqual([
      expect.objectContaining({ partner: second.devOrg, amount: Number(secondShare) }),
    ]);
    expect(refused!.unreversed[0].why).toMatch(/insufficient|no longer/i);
    expect(await balance('receivable_from_partner', second.devOrg)).toBe(secondShare);
    await expectBalanced();

    const rec = await plaza.core.ledger.reconcile({ from: started, to: new Date(Date.now() + 2000) });
    expect(rec.differences).toEqual([]);
    // Simulated disputes are a sandbox feature: on Stripe the route is not there.
    const operator = await signInWithPlatformRole(plaza, 'admin');
    await operator.agent
      .post(`/v1/admin/payments/invoices/${invoice.id}/sandbox-dispute`)
      .set('x-csrf-token', operator.csrf)
      .send({})
      .expect(404);
  });
});
