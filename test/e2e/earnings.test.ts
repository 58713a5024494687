/**
 * Earnings and finance pages end to end on the sandbox provider: real
 * Chromium, real Plaza server, real database.
 *
 * Dee's developer organization has an onboarded payout account and two paid
 * charges: one settled long enough ago to be paid, one still pending. A
 * payout run pays the first. Her Earnings page shows the same pending and
 * paid balances as the ledger, the payout with its invoice line, and offers
 * the CSV statement. An operator's Finance page shows the GMV of the ledger
 * and runs payouts with its button.
 */
import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';

const run = randomBytes(3).toString('hex');
const DAY = 86_400_000;
let plaza: PlazaServer;
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let orgId: string;
const money = (minor: bigint) =>
  new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(Number(minor) / 100);

async function paidCharge(amount: bigint, settledDaysAgo: number) {
  const { provider } = plaza.core.payments;
  const invoiceId = `inv_e2e_${run}_${amount}`;
  const session = await provider.createCheckout({
    idempotencyKey: `checkout:${invoiceId}`,
    mode: 'payment',
    amount,
    currency: 'USD',
    description: 'Pro plan',
    transferGroup: invoiceId,
    saveCard: false,
    successUrl: `${plaza.baseUrl}/ok`,
    cancelUrl: `${plaza.baseUrl}/cancel`,
    metadata: { invoice: invoiceId },
  });
  await page.request.post(`/v1/payments/sandbox/checkout/${session.sessionId}/pay`, {
    data: { card: '4242424242424242' },
  });
  const charge = await provider.retrieveCharge(
    (await provider.retrieveCheckout(session.sessionId)).paymentIntentId!,
  );
  await plaza.core.db.transaction((tx) =>
    plaza.core.ledger.recordCharge(tx, {
      invoiceId,
      providerChargeId: charge.chargeId,
      provider: provider.name,
      customerOrgId: 'org_customer',
      developerOrgId: orgId,
      appId: 'app_e2e',
      amount: charge.amount,
      currency: 'USD',
      processingFee: charge.fee,
      settlesAt: new Date(Date.now() - settledDaysAgo * DAY),
    }),
  );
  return invoiceId;
}

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  plaza = await startPlazaServer({ workers: false });
  browser = await launchBrowser();
  context = await browser.newContext({
    baseURL: plaza.baseUrl,
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
  });
  context.setDefaultTimeout(10_000);
  page = await context.newPage();
  const signup = await page.request.post('/v1/auth/signup', {
    data: {
      name: 'Dee Veloper',
      email: `dee-earn-${run}@example.test`,
      password: 'correct horse battery staple',
    },
  });
  const csrf = (await signup.json()).csrfToken;
  const headers = { 'x-csrf-token': csrf };
  const org = await (
    await page.request.post('/v1/organizations', {
      data: { name: `Dee Earns ${run}`, kind: 'developer' },
      headers,
    })
  ).json();
  orgId = org.id;
  await page.request.post(`/v1/organizations/${orgId}/payouts/account`, { data: {}, headers });
  const link = await (
    await page.request.post(`/v1/organizations/${orgId}/payouts/account/onboarding-link`, { headers })
  ).json();
  const token = new URL(link.url).pathname.split('/').pop();
  await page.request.get(`/v1/payments/sandbox/onboarding/${token}`);
  await page.request.post(`/v1/payments/sandbox/onboarding/${token}`, { data: { submit: true } });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await plaza?.close();
});

describe('earnings and finance pages', () => {
  it('a developer sees the ledger balances, the payout with its invoice lines, and the statement link', async () => {
    const paidInvoice = await paidCharge(12_345n, 20);
    await paidCharge(5_000n, 1);
    await plaza.core.ledger.runPayouts('schedule');
    const [b] = await plaza.core.ledger.balances(orgId);
    expect(b.paid).toBeGreaterThan(0n);
    expect(b.pending).toBeGreaterThan(0n);

    await page.goto(`/orgs/${orgId}/members`);
    await page.getByRole('navigation').getByRole('link', { name: 'Earnings' }).click();
    await page.getByRole('heading', { name: 'Earnings' }).waitFor();
    const row = page.getByTestId('balance-USD');
    expect(await row.getByTestId('pending').textContent()).toBe(money(b.pending));
    expect(await row.getByTestId('available').textContent()).toBe(money(b.available));
    expect(await row.getByTestId('paid').textContent()).toBe(money(b.paid));

    const [payout] = await plaza.core.ledger.payoutsOf(orgId);
    const payoutRow = page.getByTestId(`payout-${payout.id}`);
    await expect(payoutRow.textContent()).resolves.toContain(money(payout.amount));
    await payoutRow.getByRole('button', { name: 'Lines' }).click();
    await page.getByRole('table', { name: 'Invoice lines of the payout' }).getByText(paidInvoice).waitFor();
    expect(await page.getByTestId('payouts-total').textContent()).toContain(money(payout.amount));

    const href = await page.getByTestId('statement-csv').getAttribute('href');
    const csv = await page.request.get(href!);
    expect(csv.status()).toBe(200);
    expect(await csv.text()).toContain(paidInvoice);
  });

  it('an operator sees the GMV and runs payouts from the Finance page', async () => {
    const email = `ops-earn-${run}@example.test`;
    await plaza.core.identity.createUser(plaza.core.db, {
      name: 'Otto Operator',
      email,
      password: 'correct horse battery staple',
      platformRole: 'admin',
    });
    const ops = await browser!.newContext({
      baseURL: plaza.baseUrl,
      viewport: { width: 1280, height: 900 },
      locale: 'en-US',
    });
    ops.setDefaultTimeout(10_000);
    const opsPage = await ops.newPage();
    await opsPage.request.post('/v1/auth/login', {
      data: { email, password: 'correct horse battery staple' },
    });
    await opsPage.goto('/operations/finance');
    await opsPage.getByRole('heading', { name: 'Finance' }).waitFor();
    const [usd] = (
      await plaza.core.ledger.overview({
        from: new Date(Date.UTC(new Date().getUTCFullYear(), 0, 1)),
        to: new Date(),
      })
    ).filter((o) => o.currency === 'USD');
    expect(await opsPage.getByTestId('figure-gmv').textContent()).toContain(money(usd.gmv));
    await opsPage.getByTestId('run-payouts').click();
    await opsPage.getByText(/Payout run done: \d+ paid/).waitFor();
    await ops.close();
  });
});
