import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PayoutProviderPort } from '../../server/modules/ledger/port.ts';
import { createLedgerService } from '../../server/modules/ledger/service.ts';
import { type Developer, developer } from '../helpers/apps.ts';
import { onboardSandboxPayoutAccount, paySandboxCheckout } from '../helpers/payments.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { signInWithPlatformRole } from '../helpers/world.ts';

/**
 * Payout runs against the embedded sandbox provider (real transfers with
 * idempotency keys and balance transactions on its side).
 */
let plaza: TestPlaza;
let n = 0;
const DAY = 86_400_000;

beforeAll(async () => {
  plaza = await startPlaza({}, { workers: false });
});
afterAll(async () => {
  await plaza?.close();
});

const onboard = (dev: Developer) => onboardSandboxPayoutAccount(plaza, dev, dev.orgId);

/** A customer pays `amount` on the sandbox; the ledger records the charge as settled `settledDaysAgo`. */
async function paidCharge(dev: Developer, amount: bigint, settledDaysAgo = 20) {
  const { provider } = plaza.core.payments;
  const invoiceId = `inv_p${++n}_${Date.now()}`;
  const charge = await paySandboxCheckout(plaza, invoiceId, amount);
  const recorded = await plaza.core.db.transaction((tx) =>
    plaza.core.ledger.recordCharge(tx, {
      invoiceId,
      providerChargeId: charge.chargeId,
      provider: provider.name,
      customerOrgId: 'org_customer',
      developerOrgId: dev.orgId,
      appId: 'app_paid',
      amount: charge.amount,
      currency: charge.currency,
      processingFee: charge.fee,
      settlesAt: new Date(Date.now() - settledDaysAgo * DAY),
    }),
  );
  return {
    invoiceId,
    charge,
    split: recorded.split,
    share: recorded.split.parts.find((p) => p.role === 'developer')!.amount,
  };
}

const balances = async (orgId: string) =>
  (await plaza.core.ledger.balances(orgId)).find((b) => b.currency === 'USD');

async function transfersOf(invoiceId: string) {
  return plaza.core.db.query(
    `SELECT id, data FROM payments_sandbox_objects WHERE kind = 'transfer' AND data->>'transferGroup' = $1`,
    [invoiceId],
  );
}

describe('payout runs', () => {
  it('pays an onboarded developer one transfer per invoice (xfer:{invoice}:{payee}) and the balances follow', async () => {
    const dev = await developer(plaza);
    await onboard(dev);
    const a = await paidCharge(dev, 10_000n);
    const b = await paidCharge(dev, 5_000n);
    expect(await balances(dev.orgId)).toMatchObject({ pending: a.share + b.share, available: 0n, paid: 0n });
    const run = await plaza.core.ledger.runPayouts('usr_test');
    expect(run.paid).toBeGreaterThanOrEqual(1);
    expect(await balances(dev.orgId)).toMatchObject({
      pending: 0n,
      available: 0n,
      inTransit: 0n,
      paid: a.share + b.share,
    });
    const [payout] = await plaza.core.ledger.payoutsOf(dev.orgId);
    expect(payout).toMatchObject({
      state: 'paid',
      amount: a.share + b.share,
      gross: a.share + b.share,
      netted: 0n,
    });
    const full = await plaza.core.ledger.payout(payout.id);
    expect(full?.lines.map((l) => [l.invoiceId, l.paidAmount]).sort()).toEqual(
      [
        [a.invoiceId, a.share],
        [b.invoiceId, b.share],
      ].sort(),
    );
    for (const x of [a, b]) {
      const ts = await transfersOf(x.invoiceId);
      expect(ts).toHaveLength(1);
      expect(ts[0].data).toMatchObject({ amount: Number(x.share), sourceTransaction: x.charge.chargeId });
    }
    const events = await plaza.core.db.query(
      "SELECT type, payload FROM events WHERE organization_id = $1 AND type LIKE 'payout.%' ORDER BY id",
      [dev.orgId],
    );
    expect(events.map((e) => e.type)).toEqual(['payout.created', 'payout.paid']);
    expect(events[1].payload).toMatchObject({
      payoutId: payout.id,
      amount: Number(a.share + b.share),
      currency: 'USD',
    });
    // Another run finds nothing more to pay for this developer.
    await plaza.core.ledger.runPayouts('usr_test');
    expect(await plaza.core.ledger.payoutsOf(dev.orgId)).toHaveLength(1);
    expect(await transfersOf(a.invoiceId)).toHaveLength(1);
  });

  it('keeps lines pending until net-15 after the charge settles, and below the $25 minimum pays nothing', async () => {
    const dev = await developer(plaza);
    await onboard(dev);
    const recent = await paidCharge(dev, 10_000n, 3);
    await plaza.core.ledger.runPayouts('usr_test');
    expect(await balances(dev.orgId)).toMatchObject({ pending: recent.share, available: 0n, paid: 0n });

    const small = await developer(plaza);
    await onboard(small);
    const tiny = await paidCharge(small, 2_000n);
    expect(tiny.share).toBeLessThan(2_500n);
    await plaza.core.ledger.runPayouts('usr_test');
    expect(await balances(small.orgId)).toMatchObject({ pending: 0n, available: tiny.share, paid: 0n });
    expect(await plaza.core.ledger.payoutsOf(small.orgId)).toEqual([]);
  });

  it('holds, with the reason, a partner whose payout account cannot receive yet; pays once it can', async () => {
    const dev = await developer(plaza);
    const c = await paidCharge(dev, 10_000n);
    await plaza.core.ledger.runPayouts('usr_test');
    expect(await balances(dev.orgId)).toMatchObject({ available: c.share, paid: 0n });
    const [h] = await plaza.core.ledger.holdsOf(dev.orgId);
    expect(h).toMatchObject({ currency: 'USD', amount: c.share });
    expect(h.reason.length).toBeGreaterThan(5);
    const held = await plaza.core.db.query(
      "SELECT payload FROM events WHERE organization_id = $1 AND type = 'payout.held'",
      [dev.orgId],
    );
    expect(held[0].payload.reason).toBe(h.reason);
    await onboard(dev);
    await plaza.core.ledger.runPayouts('usr_test');
    expect(await balances(dev.orgId)).toMatchObject({ available: 0n, paid: c.share });
    expect(await plaza.core.ledger.holdsOf(dev.orgId)).toEqual([]);
  });

  it('a refund after the payout becomes a receivable, netted from the next payout', async () => {
    const dev = await developer(plaza);
    await onboard(dev);
    const first = await paidCharge(dev, 10_000n);
    await plaza.core.ledger.runPayouts('usr_test');
    const providerRefund = await plaza.core.payments.provider.refund({
      idempotencyKey: `refund:${first.invoiceId}`,
      chargeId: first.charge.chargeId,
      amount: 4_000n,
      metadata: {},
    });
    const refund = await plaza.core.db.transaction((tx) =>
      plaza.core.ledger.recordRefund(tx, {
        refundId: `ref_${first.invoiceId}`,
        invoiceId: first.invoiceId,
        providerRefundId: providerRefund.refundId,
        provider: 'sandbox',
        amount: 4_000n,
        currency: 'USD',
      }),
    );
    const back = refund.split.partners[0];
    expect(back).toMatchObject({ fromBalance: 0n, fromTransfer: back.amount });
    expect(back.transfers).toHaveLength(1);
    expect(await balances(dev.orgId)).toMatchObject({ owed: back.amount });
    const second = await paidCharge(dev, 20_000n);
    await plaza.core.ledger.runPayouts('usr_test');
    const [latest] = await plaza.core.ledger.payoutsOf(dev.orgId);
    expect(latest).toMatchObject({
      state: 'paid',
      gross: second.share,
      netted: back.amount,
      amount: second.share - back.amount,
    });
    expect(await balances(dev.orgId)).toMatchObject({ owed: 0n, available: 0n });
    const [t] = await transfersOf(second.invoiceId);
    expect(t.data.amount).toBe(Number(second.share - back.amount));
    expect((await plaza.core.ledger.verify()).mismatches).toEqual([]);
  });

  it('a run that died mid-payout is finished by the next one with the same transfer keys: no double, no lost transfer', async () => {
    const dev = await developer(plaza);
    await onboard(dev);
    const charges = [
      await paidCharge(dev, 10_000n),
      await paidCharge(dev, 11_000n),
      await paidCharge(dev, 12_000n),
    ];
    const real = plaza.core.payments.payoutProvider;
    // Worker 1: the second transfer reaches the provider, then the worker dies (never answers).
    let sent = 0;
    const dying: PayoutProviderPort = {
      ...real,
      name: real.name,
      accountStatus: (id) => real.accountStatus(id),
      balanceTransactions: (r) => real.balanceTransactions(r),
      async transfer(req) {
        const t = await real.transfer(req);
        if (++sent === 2) return new Promise(() => {});
        return t;
      },
    };
    const worker1 = createLedgerService({ db: plaza.core.db, payoutLeaseMs: 1500 });
    worker1.usePayoutProvider(dying);
    void worker1.runPayouts('schedule');
    for (let i = 0; i < 200 && sent < 2; i++) await new Promise((r) => setTimeout(r, 25));
    expect(sent).toBe(2);
    expect((await plaza.core.ledger.payoutsOf(dev.orgId))[0].state).toBe('processing');
    // Worker 1 still holds the payout's lease (it might only be slow): the next run waits for the
    // lease to run out, unrenewed, before it takes the payout over and sends the rest.
    const [held] = await plaza.core.db.query(
      "SELECT lease_owner, lease_until FROM ledger_payouts WHERE party = $1 AND state = 'processing'",
      [dev.orgId],
    );
    const next = await plaza.core.ledger.runPayouts('schedule');
    expect(next).toMatchObject({ resumed: 1, inProgressElsewhere: 0 });
    expect(next.runId).not.toBe(held.lease_owner);
    const [third] = await plaza.core.db.query(
      `SELECT created_at FROM payments_sandbox_objects WHERE kind = 'transfer' AND data->>'transferGroup' = $1`,
      [charges[2].invoiceId],
    );
    expect(third.created_at.getTime()).toBeGreaterThanOrEqual(held.lease_until.getTime());
    const [payout] = await plaza.core.ledger.payoutsOf(dev.orgId);
    expect(payout.state).toBe('paid');
    const total = charges.reduce((s, c) => s + c.share, 0n);
    expect(await balances(dev.orgId)).toMatchObject({ inTransit: 0n, available: 0n, paid: total });
    for (const c of charges) expect(await transfersOf(c.invoiceId)).toHaveLength(1);
    const v = await plaza.core.ledger.verify();
    expect(v).toMatchObject({ mismatches: [], unbalanced: [] });
  });
});

describe('a refused transfer', () => {
  it('fails the payout: what was sent stays paid, the rest is available again, and the next run pays it', async () => {
    const dev = await developer(plaza);
    await onboard(dev);
    const charges = [await paidCharge(dev, 10_000n), await paidCharge(dev, 20_000n)];
    const real = plaza.core.payments.payoutProvider;
    let calls = 0;
    const refusing: PayoutProviderPort = {
      name: real.name,
      accountStatus: (id) => real.accountStatus(id),
      balanceTransactions: (r) => real.balanceTransactions(r),
      async transfer(req) {
        if (++calls === 2) throw new Error('destination account closed');
        return real.transfer(req);
      },
    };
    const worker = createLedgerService({ db: plaza.core.db, events: plaza.core.events });
    worker.usePayoutProvider(refusing);
    const run = await worker.runPayouts('usr_test');
    expect(run.failed).toBe(1);
    const [failed] = await plaza.core.ledger.payoutsOf(dev.orgId);
    expect(failed).toMatchObject({
      state: 'failed',
      failure: 'Transfer refused: destination account closed',
    });
    const total = charges[0].share + charges[1].share;
    const b = await balances(dev.orgId);
    expect(b!.inTransit).toBe(0n);
    expect(b!.paid + b!.available).toBe(total);
    expect(b!.paid).toBeGreaterThan(0n);
    const ev = await plaza.core.db.query(
      "SELECT payload FROM events WHERE organization_id = $1 AND type = 'payout.failed'",
      [dev.orgId],
    );
    expect(ev[0].payload).toMatchObject({
      payoutId: failed.id,
      amount: Number(b!.available),
      reason: failed.failure,
    });
    await plaza.core.ledger.runPayouts('usr_test');
    expect(await balances(dev.orgId)).toMatchObject({ available: 0n, inTransit: 0n, paid: total });
    for (const c of charges) expect(await transfersOf(c.invoiceId)).toHaveLength(1);
    expect((await plaza.core.ledger.verify()).mismatches).toEqual([]);
  });
});

describe('reconciliation against the sandbox balance transactions', () => {
  it('matches every charge, refund and transfer of the day, and reports a posting the provider never saw', async () => {
    const from = new Date(Date.now() - 60 * 60_000);
    const dev = await developer(plaza);
    await onboard(dev);
    const c = await paidCharge(dev, 30_000n);
    const refund = await plaza.core.payments.provider.refund({
      idempotencyKey: `refund:${c.invoiceId}`,
      chargeId: c.charge.chargeId,
      amount: 3_000n,
      metadata: {},
    });
    await plaza.core.db.transaction((tx) =>
      plaza.core.ledger.recordRefund(tx, {
        refundId: `ref_${c.invoiceId}`,
        invoiceId: c.invoiceId,
        providerRefundId: refund.refundId,
        provider: 'sandbox',
        amount: 3_000n,
        currency: 'USD',
      }),
    );
    await plaza.core.ledger.runPayouts('usr_test');
    const to = new Date(Date.now() + 60_000);
    const clean = await plaza.core.ledger.reconcile({ from, to });
    expect(clean.differences).toEqual([]);
    expect(clean.status).toBe('clean');
    expect(clean.matched).toBeGreaterThanOrEqual(3);
    // A charge in the ledger that the provider does not know.
    await plaza.core.db.transaction((tx) =>
      plaza.core.ledger.post(tx, {
        idempotencyKey: 'ghost',
        currency: 'USD',
        description: 'ghost charge',
        sourceRef: { kind: 'charge', id: 'inv_ghost', providerObjectId: 'ch_ghost' },
        entries: [
          { account: { kind: 'provider_cash', party: 'sandbox' }, direction: 'debit', amount: 500n },
          { account: { kind: 'platform_revenue' }, direction: 'credit', amount: 500n },
        ],
      }),
    );
    const dirty = await plaza.core.ledger.reconcile({ from, to: new Date(Date.now() + 60_000) });
    expect(dirty.status).toBe('differences');
    expect(dirty.differences).toEqual([
      { objectId: 'ch_ghost', currency: 'USD', kind: 'missing_at_provider', ledger: 500n, provider: 0n },
    ]);
  });
});

describe('partner and operator finance API', () => {
  it('a developer sees its balances, payouts with lines and a CSV statement; never another partner’s', async () => {
    const dev = await developer(plaza);
    await onboard(dev);
    const c = await paidCharge(dev, 12_345n);
    const pending = await paidCharge(dev, 10_000n, 1);
    await plaza.core.ledger.runPayouts('usr_test');
    const earnings = (await dev.agent.get(`/v1/organizations/${dev.orgId}/earnings`).expect(200)).body;
    expect(earnings).toMatchObject({
      balances: [
        { currency: 'USD', pending: Number(pending.share), available: 0, paid: Number(c.share), owed: 0 },
      ],
      holds: [],
      netDays: 15,
      minimumPayout: 2500,
    });
    const list = (await dev.agent.get(`/v1/organizations/${dev.orgId}/earnings/payouts`).expect(200)).body
      .data;
    expect(list).toHaveLength(1);
    const one = (
      await dev.agent.get(`/v1/organizations/${dev.orgId}/earnings/payouts/${list[0].id}`).expect(200)
    ).body;
    expect(one.lines).toEqual([
      expect.objectContaining({
        invoiceId: c.invoiceId,
        amount: Number(c.share),
        paidAmount: Number(c.share),
      }),
    ]);
    const csv = await dev.agent.get(`/v1/organizations/${dev.orgId}/earnings/statement.csv`).expect(200);
    expect(csv.headers['content-type']).toMatch(/text\/csv/);
    const lines = csv.text.trim().split('\r\n');
    expect(lines[0]).toMatch(/^charged_at,invoice,app,role,currency,gross,processing_fee,your_share/);
    expect(lines).toHaveLength(3);
    expect(csv.text).toContain(`${c.invoiceId},app_paid,developer,USD,123.45`);

    // Another developer: its own org does not have this payout; the first org is not its own.
    const other = await developer(plaza);
    await other.agent.get(`/v1/organizations/${other.orgId}/earnings/payouts/${list[0].id}`).expect(404);
    await other.agent
      .get(`/v1/organizations/${dev.orgId}/earnings`)
      .expect((r) => expect([403, 404]).toContain(r.status));
    await other.agent
      .get(`/v1/organizations/${dev.orgId}/earnings/statement.csv`)
      .expect((r) => expect([403, 404]).toContain(r.status));
    const mine = (await other.agent.get(`/v1/organizations/${other.orgId}/earnings`).expect(200)).body;
    expect(mine.balances).toEqual([]);
    await dev.agent
      .get(
        `/v1/organizations/${dev.orgId}/earnings/statement.csv?from=2026-05-01T00:00:00Z&to=2026-01-01T00:00:00Z`,
      )
      .expect(400);
  });

  it('operators see the finance overview, run payouts with the button and export tax figures', async () => {
    const admin = await signInWithPlatformRole(plaza, 'admin');
    const dev = await developer(plaza);
    await onboard(dev);
    await paidCharge(dev, 50_000n);
    const run = await admin.agent
      .post('/v1/admin/finance/payout-runs')
      .set('x-csrf-token', admin.csrf)
      .expect(200);
    expect(run.body.paid).toBeGreaterThanOrEqual(1);
    const overview = (await admin.agent.get('/v1/admin/finance/overview').expect(200)).body;
    const usd = overview.currencies.find((c: any) => c.currency === 'USD');
    const totals = await plaza.core.db.one(
      "SELECT sum(amount)::text AS gmv, sum(processing_fee)::text AS fees FROM ledger_charges WHERE currency = 'USD'",
    );
    expect(usd.gmv).toBe(Number(totals.gmv));
    expect(usd.processingFees).toBe(Number(totals.fees));
    expect(usd.payoutsPaid).toBeGreaterThan(0);
    expect(overview.lastPayoutRun).toMatchObject({ triggeredBy: admin.user.id });
    const tax = await admin.agent
      .get(`/v1/admin/finance/tax/${new Date().getUTCFullYear()}?format=csv`)
      .expect(200);
    expect(tax.text.split('\r\n')[0]).toBe(
      'payee,year,currency,gross,transactions,fees,refunds,payee_earnings,1099_nec,1099_k,dac7',
    );
    expect(tax.text).toContain(`${dev.orgId},${new Date().getUTCFullYear()},USD,500.00,1,`);
    await dev.agent.get('/v1/admin/finance/overview').expect(403);
    await dev.agent.post('/v1/admin/finance/payout-runs').set('x-csrf-token', dev.csrf).expect(403);
  });
});

describe('scheduled payout runs', () => {
  it('run once on a payout day; a scheduled run that never finished (its worker died) does not count', async () => {
    // Tomorrow is the payout day, so the runs other tests made today are not this day's (last in
    // the file: its run, dated tomorrow, pays every partner's available lines).
    const day = new Date(Date.now() + DAY);
    const worker = createLedgerService({
      db: plaza.core.db,
      events: plaza.core.events,
      now: () => day,
      payoutDays: [day.getUTCDate()],
    });
    worker.usePayoutProvider(plaza.core.payments.payoutProvider);
    const dev = await developer(plaza);
    await onboard(dev);
    const first = await paidCharge(dev, 10_000n);
    await plaza.core.db.query(
      "INSERT INTO ledger_payout_runs (id, triggered_by, started_at) VALUES ($1, 'schedule', $2)",
      [`prun_killed_${Date.now()}`, day],
    );
    await worker.scheduledPayoutRun();
    expect(await balances(dev.orgId)).toMatchObject({ available: 0n, paid: first.share });
    // That run finished: later looks on the same day pay nothing more.
    const second = await paidCharge(dev, 10_000n);
    await worker.scheduledPayoutRun();
    expect(await balances(dev.orgId)).toMatchObject({
      pending: second.share,
      available: 0n,
      paid: first.share,
    });
    expect(await plaza.core.ledger.payoutsOf(dev.orgId)).toHaveLength(1);
  });
});
