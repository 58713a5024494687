import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlazaServer } from '../../../test/helpers/plaza.ts';
import { waitFor } from '../../../test/helpers/wait.ts';
import { createOrg, type SignedIn, signUp } from '../../../test/helpers/world.ts';
import { post, startBilling } from './world.ts';

/**
 * Plans, subscriptions and invoices on a real core, PostgreSQL and the
 * sandbox payment provider: subscribe, pay on the payment page, usage above
 * the included amount billed as overage at renewal, versioned prices,
 * proration, cancel and resume, trials, immutable numbered invoices in the
 * ledger. Periods are moved into the past in the database (a renewal is a
 * month away); invoices are finalized at once (PLAZA_PLUGIN_BILLING_INVOICE_DELAY_HOURS=0).
 */
let plaza: PlazaServer;
let operator: SignedIn;
let owner: SignedIn;
const DAY = 86_400_000;

const plan = (body: object) => post(operator, '/v1/billing/plans', body);
const PRO = {
  key: 'pro',
  name: 'Pro',
  currency: 'usd',
  priceMonth: 3000,
  priceYear: 30000,
  features: { contacts: 5 },
  meters: [
    { meter: 'api_calls', included: 1000, price: { model: 'flat', unitAmount: 2 } },
    { meter: 'tokens', included: 10_000, price: { model: 'package', packageSize: 1000, packageAmount: 50 } },
  ],
};

beforeAll(async () => {
  ({ plaza, operator } = await startBilling({ PLAZA_PLUGIN_BILLING_INVOICE_DELAY_HOURS: '0' }));
  await post(operator, '/v1/billing/meters', {
    key: 'api_calls',
    name: 'API calls',
    aggregation: 'count',
  }).expect(201);
  await post(operator, '/v1/billing/meters', { key: 'tokens', name: 'Tokens', aggregation: 'sum' }).expect(
    201,
  );
  await plan({
    key: 'free',
    name: 'Free',
    isFree: true,
    currency: 'USD',
    priceMonth: 0,
    priceYear: 0,
    features: { contacts: 2 },
    meters: [{ meter: 'api_calls', included: 100 }],
  }).expect(201);
  await plan(PRO).expect(201);
  await plan({
    key: 'team',
    name: 'Team',
    currency: 'USD',
    priceMonth: 9000,
    priceYear: 90000,
    trialDays: 14,
  }).expect(201);
  owner = await signUp(plaza, { name: 'Olga Owner' });
}, 60_000);
afterAll(() => plaza?.close());

async function account(name: string) {
  return createOrg(owner, 'account', name);
}
const api = (orgId: string, path: string) => `/v1/billing/organizations/${orgId}${path}`;
const subscribe = (orgId: string, plan: string, interval = 'month') =>
  owner.agent.put(api(orgId, '/subscription')).set('x-csrf-token', owner.csrf).send({ plan, interval });
const subscription = async (orgId: string) =>
  (await owner.agent.get(api(orgId, '/subscription')).expect(200)).body.subscription;
const invoicesOf = async (orgId: string) =>
  (await owner.agent.get(api(orgId, '/invoices')).expect(200)).body.data;

/** Pays an open invoice on the sandbox payment page, as the person would. */
async function payOnPage(orgId: string, invoiceId: string) {
  const { url } = (await post(owner, api(orgId, `/invoices/${invoiceId}/pay`), {}).expect(200)).body;
  const sessionId = new URL(url).pathname.split('/').pop();
  await plaza.http
    .post(`/v1/payments/sandbox/checkout/${sessionId}/pay`)
    .send({ card: '4242424242424242' })
    .expect(200);
}

/** Moves the subscription's period so that it ended at today's UTC midnight (a month ago to today). */
async function endPeriodToday(orgId: string) {
  const today = new Date(Math.floor(Date.now() / DAY) * DAY);
  const start = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, today.getUTCDate()));
  await plaza.core.db.query(
    'UPDATE billing_subscriptions SET period_start = $2, period_end = $3 WHERE organization_id = $1',
    [orgId, start.toISOString(), today.toISOString()],
  );
  return { start, end: today };
}

describe('plans (operator)', () => {
  it('refuses a bad plan with each field and reason', async () => {
    const res = await plan({
      key: 'Bad',
      name: '',
      currency: 'dollars',
      priceMonth: 9.99,
      priceYear: -1,
      meters: [{ meter: 'api_calls', price: { model: 'graduated', tiers: [{ upTo: 10, unitAmount: 1 }] } }],
    });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/problem\+json/);
    const fields = res.body.fields.map((f: { field: string }) => f.field);
    expect(fields).toEqual(
      expect.arrayContaining([
        'body.key',
        'body.name',
        'body.currency',
        'body.priceMonth',
        'body.priceYear',
        'body.meters.0.price.tiers.0.upTo',
      ]),
    );
    const unknown = await plan({ ...PRO, key: 'other', meters: [{ meter: 'nope', included: 1 }] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.fields).toEqual([{ field: 'body.meters.0.meter', reason: 'no meter "nope"' }]);
  });

  it('lists plans cheapest first, the latest version of each', async () => {
    const res = await owner.agent.get('/v1/billing/plans').expect(200);
    expect(res.body.data.map((p: { key: string }) => p.key)).toEqual(['free', 'pro', 'team']);
    expect(res.body.data[1]).toMatchObject({
      currency: 'USD',
      priceMonth: 3000,
      version: 1,
      features: { contacts: 5, seats: null },
    });
  });
});

describe('subscriptions and invoices', () => {
  it('subscribe, pay on the payment page, exceed the included usage, see the overage on the next invoice, paid with the saved card', async () => {
    const acct = await account('Overage Shop');
    // No saved card yet: the first invoice stays open and the subscription is past due.
    const first = await subscribe(acct.id, 'pro').expect(200);
    expect(first.body).toMatchObject({
      payment: 'failed',
      subscription: { status: 'past_due', plan: { key: 'pro' } },
    });
    const [invoice] = await invoicesOf(acct.id);
    expect(invoice).toMatchObject({
      status: 'open',
      total: 3000,
      currency: 'USD',
      number: expect.stringMatching(/^INV-\d{6}$/),
    });
    expect(invoice.lines).toEqual([
      expect.objectContaining({ kind: 'subscription', amount: 3000 }),
      expect.objectContaining({ kind: 'tax', amount: 0 }),
    ]);

    await payOnPage(acct.id, invoice.id);
    await waitFor('the invoice to be paid', async () => (await invoicesOf(acct.id))[0].status === 'paid');
    expect((await subscription(acct.id)).status).toBe('active');

    // Usage in the period: 1,500 calls (1,000 included) and 12,345 tokens (10,000 included).
    const yesterday = new Date(Date.now() - DAY).toISOString();
    const events = [
      ...Array.from({ length: 1500 }, (_, i) => ({
        transactionId: `c${i}`,
        meter: 'api_calls',
        timestamp: yesterday,
      })),
      { transactionId: 't1', meter: 'tokens', value: 12_345, timestamp: yesterday },
    ];
    for (let i = 0; i < events.length; i += 1000)
      await post(operator, `/v1/billing/accounts/${acct.id}/events/batch`, {
        events: events.slice(i, i + 1000),
      }).expect(200);
    const usage = (await owner.agent.get(api(acct.id, '/usage')).query({ at: yesterday }).expect(200)).body;
    expect(usage.meters.find((m: { meter: string }) => m.meter === 'api_calls')).toMatchObject({
      value: 1500,
      included: 1000,
      overage: 1000,
    });

    const period = await endPeriodToday(acct.id);
    await waitFor('the renewal invoice to be paid', async () => {
      const list = await invoicesOf(acct.id);
      return list.length === 2 && list[0].status === 'paid' && list[0];
    });
    const [renewal] = await invoicesOf(acct.id);
    expect(renewal).toMatchObject({
      usageStart: period.start.toISOString(),
      usageEnd: period.end.toISOString(),
    });
    expect(
      renewal.lines.map(
        (l: { kind: string; meter: string | null; quantity: number | null; amount: number }) => [
          l.kind,
          l.meter,
          l.quantity,
          l.amount,
        ],
      ),
    ).toEqual([
      ['subscription', null, null, 3000],
      ['overage', 'api_calls', 500, 1000], // 500 x 2
      ['overage', 'tokens', 2345, 150], // 3 started packages of 1,000 x 50
      ['tax', null, null, 0],
    ]);
    expect(renewal.total).toBe(4150);
    expect(Number(renewal.number.slice(4))).toBe(Number(invoice.number.slice(4)) + 1);

    // A late event for the invoiced period is refused rather than silently unbilled.
    const late = await post(operator, `/v1/billing/accounts/${acct.id}/events/batch`, {
      events: [{ transactionId: 'late', meter: 'api_calls', timestamp: yesterday }],
    }).expect(200);
    expect(late.body.refused[0]).toMatchObject({
      field: 'events.0.timestamp',
      reason: expect.stringContaining('invoiced'),
    });

    // The ledger: both invoices booked as revenue, the receivable settled by the payments.
    const receivable = await plaza.core.ledger.balance(
      { kind: 'customer_receivable', party: acct.id },
      'USD',
    );
    expect(receivable).toBe(0n);
    // Each charge settled its invoice's receivable itself (settles): payments credited the
    // receivable, billing posted no correcting entry, and the revenue is the invoices' alone.
    const paidBy = await plaza.core.db.query(
      `SELECT t.idempotency_key, a.kind FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
       JOIN ledger_accounts a ON a.id = e.account_id
       WHERE a.party = $1 AND e.direction = 'credit' ORDER BY t.posted_at`,
      [acct.id],
    );
    expect(paidBy.length).toBeGreaterThan(0);
    for (const p of paidBy)
      expect(p).toMatchObject({
        idempotency_key: expect.stringMatching(/^platform_charge:/),
        kind: 'customer_receivable',
      });
    const corrections = await plaza.core.db.query(
      "SELECT 1 FROM ledger_transactions WHERE idempotency_key LIKE 'billing:invoice_paid:%'",
    );
    expect(corrections).toEqual([]);
    const check = await plaza.core.ledger.verify();
    expect(check.unbalanced).toEqual([]);
    expect(check.mismatches).toEqual([]);

    // The HTML invoice.
    const html = await owner.agent.get(api(acct.id, `/invoices/${renewal.id}/html`)).expect(200);
    expect(html.headers['content-type']).toMatch(/text\/html/);
    expect(html.text).toContain(`Invoice ${renewal.number}`);
    expect(html.text).toContain('41.50 USD');

    // The PDF: a well-formed file (each cross-reference offset points at its object) with the number and total.
    const pdf = await owner.agent
      .get(api(acct.id, `/invoices/${renewal.id}/pdf`))
      .buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      })
      .expect(200);
    expect(pdf.headers['content-type']).toBe('application/pdf');
    const bytes = (pdf.body as Buffer).toString('latin1');
    expect(bytes.startsWith('%PDF-1.4')).toBe(true);
    expect(bytes).toContain(`(Invoice ${renewal.number})`);
    expect(bytes).toContain('(41.50 USD)');
    const xref = Number(/startxref\n(\d+)/.exec(bytes)![1]);
    expect(bytes.slice(xref, xref + 4)).toBe('xref');
    const offsets = [...bytes.slice(xref).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
    expect(offsets).toHaveLength(5);
    expect(offsets.map((o) => bytes.slice(o, o + 7))).toEqual([
      '1 0 obj',
      '2 0 obj',
      '3 0 obj',
      '4 0 obj',
      '5 0 obj',
    ]);
  }, 60_000);

  it('a finalized invoice cannot change, even in the database', async () => {
    const [inv] = await plaza.core.db.query("SELECT id FROM billing_invoices WHERE status = 'paid' LIMIT 1");
    await expect(
      plaza.core.db.query('UPDATE billing_invoices SET total = 1 WHERE id = $1', [inv.id]),
    ).rejects.toThrow(/finalized/);
    await expect(
      plaza.core.db.query('UPDATE billing_invoice_lines SET amount = 1 WHERE invoice_id = $1', [inv.id]),
    ).rejects.toThrow(/finalized/);
  });

  it('a new plan version does not change what existing subscribers pay until they move', async () => {
    const acct = await account('Versioned Shop');
    await subscribe(acct.id, 'pro').expect(200);
    const [inv] = await invoicesOf(acct.id);
    await payOnPage(acct.id, inv.id);
    await waitFor('paid', async () => (await subscription(acct.id)).status === 'active');
    const pro = (await owner.agent.get('/v1/billing/plans').expect(200)).body.data.find(
      (p: { key: string }) => p.key === 'pro',
    );
    await post(operator, `/v1/billing/plans/${pro.id}/versions`, {
      ...PRO,
      key: undefined,
      name: undefined,
      priceMonth: 4000,
    }).expect(201);
    expect((await subscription(acct.id)).plan).toMatchObject({ version: 1, priceMonth: 3000 });
    await endPeriodToday(acct.id);
    await waitFor('the renewal', async () => (await invoicesOf(acct.id)).length === 2);
    const [renewal] = await invoicesOf(acct.id);
    expect(renewal.lines[0]).toMatchObject({ kind: 'subscription', amount: 3000 });
    // A new subscriber gets version 2.
    const other = await account('Newcomer');
    await subscribe(other.id, 'pro').expect(200);
    expect((await subscription(other.id)).plan).toMatchObject({ version: 2, priceMonth: 4000 });
  }, 60_000);

  it('previews a plan change with proration, and the change charges exactly the preview', async () => {
    const acct = await account('Upgrading Shop');
    await subscribe(acct.id, 'pro').expect(200);
    await payOnPage(acct.id, (await invoicesOf(acct.id))[0].id);
    await waitFor('paid', async () => (await subscription(acct.id)).status === 'active');
    // 10 of 30 days left.
    const today = new Date(Math.floor(Date.now() / DAY) * DAY);
    await plaza.core.db.query(
      'UPDATE billing_subscriptions SET period_start = $2, period_end = $3 WHERE organization_id = $1',
      [
        acct.id,
        new Date(today.getTime() - 20 * DAY).toISOString(),
        new Date(today.getTime() + 10 * DAY).toISOString(),
      ],
    );
    const preview = (await post(owner, api(acct.id, '/subscription/preview'), { plan: 'team' }).expect(200))
      .body;
    const version = (await owner.agent.get('/v1/billing/plans').expect(200)).body.data;
    const proPrice = version.find((p: { key: string }) => p.key === 'pro').priceMonth;
    expect(preview).toMatchObject({ kind: 'change', dueNow: 3000 - Math.floor((proPrice * 10) / 30) });
    expect(preview.lines).toEqual([
      expect.objectContaining({ kind: 'proration', amount: -Math.floor((proPrice * 10) / 30) }),
      expect.objectContaining({ kind: 'proration', amount: 3000 }), // 9,000 x 10 / 30
    ]);
    const changed = await subscribe(acct.id, 'team').expect(200);
    expect(changed.body).toMatchObject({
      payment: 'paid',
      subscription: { plan: { key: 'team' }, status: 'active' },
    });
    const [inv] = await invoicesOf(acct.id);
    expect(inv).toMatchObject({ kind: 'change', status: 'paid', total: preview.dueNow });

    // Back down: the unused part of Team is more than 10 days of Pro, so it is kept as a credit.
    const down = (await post(owner, api(acct.id, '/subscription/preview'), { plan: 'pro' }).expect(200)).body;
    expect(down.dueNow).toBe(0);
    expect(down.creditCarried).toBe(3000 - Math.floor((proPrice * 10) / 30));
    await subscribe(acct.id, 'pro').expect(200);
    expect((await subscription(acct.id)).creditBalance).toBe(down.creditCarried);
  }, 60_000);

  it('cancel at period end, resume, cancel again: the period ends on the free plan, data kept', async () => {
    const acct = await account('Leaving Shop');
    await subscribe(acct.id, 'pro').expect(200);
    await payOnPage(acct.id, (await invoicesOf(acct.id))[0].id);
    await waitFor('paid', async () => (await subscription(acct.id)).status === 'active');
    expect(
      (await post(owner, api(acct.id, '/subscription/cancel'), {}).expect(200)).body.subscription
        .cancelAtPeriodEnd,
    ).toBe(true);
    expect(
      (await post(owner, api(acct.id, '/subscription/resume'), {}).expect(200)).body.subscription
        .cancelAtPeriodEnd,
    ).toBe(false);
    await post(owner, api(acct.id, '/subscription/cancel'), {}).expect(200);
    await endPeriodToday(acct.id);
    await waitFor('the free plan', async () => (await subscription(acct.id)).plan.key === 'free');
    expect((await subscription(acct.id)).status).toBe('active');
    // No usage above the included amounts and a free plan: no 0.00 invoices, now or next month.
    await endPeriodToday(acct.id);
    await waitFor(
      'the free period to renew',
      async () => new Date((await subscription(acct.id)).periodEnd) > new Date(),
    );
    await new Promise((r) => setTimeout(r, 1500)); // a cycle pass that could finalize a draft
    // Only the first invoice (Pro is at version 2 by now: 40.00).
    expect(
      (await invoicesOf(acct.id)).map((i: { kind: string; total: number }) => [i.kind, i.total]),
    ).toEqual([['period', 4000]]);
  }, 60_000);

  it('a trial without a payment method ends into the free plan; the operator can extend a trial', async () => {
    const acct = await account('Trying Shop');
    const res = await subscribe(acct.id, 'team').expect(200);
    expect(res.body).toMatchObject({ invoiceId: null, subscription: { status: 'trialing' } });
    const sub = res.body.subscription;
    expect(new Date(sub.trialEnd).getTime() - new Date(sub.periodStart).getTime()).toBe(14 * DAY);
    const extended = await post(operator, `/v1/billing/accounts/${acct.id}/trial`, { days: 5 }).expect(200);
    expect(new Date(extended.body.subscription.trialEnd).getTime() - new Date(sub.trialEnd).getTime()).toBe(
      5 * DAY,
    );
    const bad = await post(operator, `/v1/billing/accounts/${acct.id}/trial`, { days: 91 });
    expect(bad.status).toBe(400);
    expect(bad.body.fields[0].field).toBe('body.days');

    await endPeriodToday(acct.id);
    await waitFor('the free plan', async () => (await subscription(acct.id)).plan.key === 'free', 15_000);
    expect((await subscription(acct.id)).status).toBe('active');
    // The conversion invoice was voided, not left owing.
    expect((await invoicesOf(acct.id)).map((i: { status: string }) => i.status)).toEqual(['void']);
  }, 60_000);
});
