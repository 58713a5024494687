/**
 * Payouts account and paid installs end to end on the sandbox provider: real
 * Chromium, real Plaza server, real database.
 *
 * Dee runs a developer organization. On its Payouts page (labelled Sandbox)
 * she connects a payout account, submits the sandbox onboarding form and
 * comes back to an active account; reopening a used onboarding link sends
 * her through the refresh URL, which mints a new link for her. A customer
 * pays a paid app on the sandbox payment page: a declining card is refused,
 * a good one pays and returns to the marketplace.
 *
 * The money story in one world: a developer connects a payout account on its
 * page; a customer pays a monthly app on the payment page; the period renews;
 * the developer's usage-priced app reports usage, charged at the period's end;
 * the operator refunds part of the renewal and runs payouts from the Finance
 * page; the developer's Earnings page, the operator's figures and the
 * customer's Billing page show what the ledger holds.
 *
 * The story runs twice: on the sandbox, and on the Stripe adapter (the real
 * SDK) against the fake Stripe, whose webhooks settle each step.
 *
 * PLAZA_E2E_SCREENSHOTS=<folder> saves a screenshot of each step there.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { type FakeStripe, startFakeStripe } from '../fake-stripe/server.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { account, person, registerApp, withInstalledApp } from '../helpers/world.ts';

const run = randomBytes(3).toString('hex');
let plaza: PlazaServer | undefined;
let browser: Browser | undefined;
let page: Page;
let org: { id: string; name: string };

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  plaza = await startPlazaServer({ workers: false });
  browser = await launchBrowser();
  const context = await browser.newContext({
    baseURL: plaza.baseUrl,
    viewport: { width: 1200, height: 900 },
  });
  context.setDefaultTimeout(10_000);
  page = await context.newPage();
  const signup = await page.request.post('/v1/auth/signup', {
    data: { name: 'Dee Veloper', email: `dee-${run}@example.test`, password: 'correct horse battery staple' },
  });
  const csrf = (await signup.json()).csrfToken;
  const created = await page.request.post('/v1/organizations', {
    data: { name: `Dee Apps ${run}`, kind: 'developer' },
    headers: { 'x-csrf-token': csrf },
  });
  org = await created.json();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await plaza?.close();
});

async function snap(name: string): Promise<void> {
  const dir = process.env.PLAZA_E2E_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `payouts-${name}.png`), fullPage: true });
}

describe('payouts account page (sandbox)', () => {
  it('connects and onboards a payout account, then shows it active', async () => {
    await page.goto(`/orgs/${org.id}/members`);
    await page.getByRole('navigation').getByRole('link', { name: 'Payouts' }).click();
    await page.getByRole('heading', { name: /Payouts account/ }).waitFor();
    await page.getByTestId('sandbox-badge').waitFor();
    await page.getByText('No payout account is connected yet.').waitFor();
    await snap('1-not-connected');

    await page.getByRole('button', { name: 'Connect payout account' }).click();
    await page.waitForURL(/\/sandbox\/onboarding\//);
    await page.getByRole('heading', { name: /Payout account onboarding/ }).waitFor();
    const usedLink = page.url();
    await snap('2-sandbox-onboarding');
    await page.getByRole('button', { name: 'Submit details' }).click();

    await page.waitForURL(new RegExp(`/orgs/${org.id}/payouts-account`));
    await page.getByText('Your payout account is ready.').waitFor();
    expect(await page.getByTestId('payout-state').textContent()).toBe('Active');
    expect(await page.getByTestId('payouts-enabled').textContent()).toBe('Can receive payouts');
    expect(await page.getByTestId('hold-reason').count()).toBe(0);
    await snap('3-active');
    const api = await page.request.get(`/v1/organizations/${org.id}/payouts/account`);
    expect(await api.json()).toMatchObject({ state: 'active', sandbox: true, canReceivePayouts: true });

    // A used link goes to the refresh URL, and the signed-in page opens a fresh link.
    await page.goto(usedLink);
    await page.waitForURL((u) => u.pathname.startsWith('/sandbox/onboarding/') && u.href !== usedLink);
    await page.getByRole('button', { name: 'Finish later' }).waitFor();
  });

  it('takes a payment on the sandbox payment page', async () => {
    const app = await registerApp(plaza!, {
      redirectUris: ['https://app.example.com/cb'],
      pricing: { type: 'one_time', amount: 2_500, currency: 'USD' },
    });
    const owner = await person(plaza!, 'Olive Owner');
    const acct = await account(plaza!, owner, `Paying Shop ${run}`);
    const refused = await plaza!.core.installations
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
    expect(refused?.code).toBe('PLAZA_PAYMENT_REQUIRED');
    await page.goto(refused.extra.checkoutUrl);
    await page.getByTestId('amount').waitFor();
    expect((await page.getByTestId('amount').textContent())?.replace(/\s+/g, ' ')).toContain('25.00');
    await page.getByLabel('Card number').fill('4000 0000 0000 0002');
    await page.getByRole('button', { name: 'Pay' }).click();
    await page.getByRole('alert').filter({ hasText: 'declined' }).waitFor();
    await snap('4-declined');
    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByRole('button', { name: 'Pay' }).click();
    await page.waitForURL(/\/marketplace\/.+\?payment=success/);
    const [sub] = await plaza!.core.payments.subscriptions.list(acct.org.id);
    expect(sub).toMatchObject({ status: 'active', sandbox: true });
    expect(sub!.invoices[0]).toMatchObject({ status: 'paid', amount: 2_500 });

    // The account's owner sees it on the Billing page.
    const context = await browser!.newContext({ baseURL: plaza!.baseUrl });
    const ownerPage = await context.newPage();
    await ownerPage.request.post('/v1/auth/login', {
      data: { email: owner.email, password: owner.password },
    });
    await ownerPage.goto(`/orgs/${acct.org.id}/billing`);
    await ownerPage.getByRole('heading', { name: /Billing/ }).waitFor();
    await ownerPage.getByTestId(`status-${app.appId}`).waitFor();
    expect(await ownerPage.getByTestId(`status-${app.appId}`).textContent()).toBe('Active');
    const invoices = ownerPage.getByRole('table', { name: /Invoices of/ });
    expect(await invoices.getByRole('row').nth(1).textContent()).toMatch(/25\.00.*paid/);
    await context.close();
  });
});

/**
 * One world of the money story: its Plaza, and what differs between the providers (the hosted
 * onboarding and payment pages, and Stripe's webhooks, which arrive after the answer).
 */
interface MoneyWorld {
  plaza: () => PlazaServer;
  onboardingUrl: RegExp;
  /** Pays (or saves a card) on the provider's hosted page. */
  pay(page: Page, mode: 'payment' | 'setup'): Promise<void>;
  /** Until the provider's events sent so far are processed. */
  settle(): Promise<void>;
}

const sandboxWorld: MoneyWorld = {
  plaza: () => plaza!,
  onboardingUrl: /\/sandbox\/onboarding\//,
  async pay(page, mode) {
    await page.getByLabel('Card number').fill('4242 4242 4242 4242');
    await page.getByRole('button', { name: mode === 'payment' ? 'Pay' : /Pay|Save/ }).click();
  },
  settle: async () => {},
};

let fake: FakeStripe | undefined;
let onStripe: PlazaServer | undefined;
const fakeStripeWorld: MoneyWorld = {
  plaza: () => onStripe!,
  onboardingUrl: /\/connect\/onboard\//,
  async pay(page) {
    await page.getByRole('button', { name: 'Pay', exact: true }).click();
  },
  settle: () => fake!.flush(),
};

function moneyStory(w: MoneyWorld) {
  const money = (minor: bigint | number) =>
    new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(Number(minor) / 100);

  async function signedIn(email: string, password: string) {
    const context = await browser!.newContext({
      baseURL: w.plaza().baseUrl,
      viewport: { width: 1280, height: 900 },
      locale: 'en-US',
    });
    context.setDefaultTimeout(10_000);
    const p = await context.newPage();
    const login = await p.request.post('/v1/auth/login', { data: { email, password } });
    expect(login.status()).toBe(200);
    return { context, page: p, csrf: (await login.json()).csrfToken as string };
  }

  it('connect, pay a monthly app, renew, usage, refund, payout run: the pages show the ledger', async () => {
    const p = w.plaza();
    const monthly = await registerApp(p, {
      redirectUris: ['https://app.example.com/cb'],
      pricing: { type: 'recurring', interval: 'month', amount: 4_900, currency: 'USD', trialDays: 0 },
    });
    const dev = monthly.developer.org.id;
    const devUser = await signedIn(monthly.developerPerson.email, monthly.developerPerson.password);

    // 1. The developer connects a payout account on its Payouts page.
    await devUser.page.goto(`/orgs/${dev}/payouts-account`);
    await devUser.page.getByRole('button', { name: 'Connect payout account' }).click();
    await devUser.page.waitForURL(w.onboardingUrl);
    await devUser.page.getByRole('button', { name: 'Submit details' }).click();
    await devUser.page.getByText('Your payout account is ready.').waitFor();
    await w.settle();

    // 2. A customer installs the monthly app and pays on the payment page.
    const owner = await person(p, 'Olive Owner');
    const acct = await account(p, owner, `Story Shop ${run}`);
    const admit = (app = monthly) =>
      p.core.installations.admit({
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
    expect(refused?.code).toBe('PLAZA_PAYMENT_REQUIRED');
    const customer = await signedIn(owner.email, owner.password);
    await customer.page.goto(refused.extra.checkoutUrl);
    await w.pay(customer.page, 'payment');
    await customer.page.waitForURL(/\?payment=success/);
    await w.settle();
    await expect(admit()).resolves.toBeUndefined();

    // 3. The period renews from the saved card.
    const [sub] = await p.core.payments.subscriptions.list(acct.org.id);
    const renewal = await p.core.payments.subscriptions.renewDue(
      new Date(Date.parse(sub!.currentPeriodEnd!) + 1000),
    );
    expect(renewal).toMatchObject({ paid: 1, failed: 0 });
    await w.settle();

    // 4. The developer's usage-priced app (a version has one price) reports usage through the app API;
    // it is charged at the period's end.
    const metered = await registerApp(p, {
      sameDeveloperAs: monthly,
      redirectUris: ['https://app.example.com/oauth/callback'],
      pricing: { type: 'usage', unitName: 'message', unitAmount: 5, currency: 'USD', cappedAmount: 2_000 },
    });
    const setup = await admit(metered).then(
      () => null,
      (err) => err,
    );
    await customer.page.goto(setup.extra.checkoutUrl);
    await w.pay(customer.page, 'setup');
    await customer.page.waitForURL(/\?payment=success/);
    await w.settle();
    const installed = await withInstalledApp(p, { app: metered, owner, account: { id: acct.org.id } });
    await p.http
      .post('/v1/app/usage')
      .set(installed.as)
      .set('idempotency-key', `story-${run}`)
      .send({ quantity: 300 })
      .expect(200);
    const usageSub = (await p.core.payments.subscriptions.list(acct.org.id)).find(
      (s) => s.appId === metered.appId,
    )!;
    expect(usageSub.usage).toEqual({ quantity: 300, amount: 1_500 });
    expect(
      await p.core.payments.subscriptions.renewDue(new Date(Date.parse(usageSub.currentPeriodEnd!) + 1000)),
    ).toMatchObject({ paid: 1 });
    await w.settle();

    // 5. The operator refunds part of the renewal.
    const email = `ops-story-${run}@example.test`;
    await p.core.identity.createUser(p.core.db, {
      name: 'Otto Operator',
      email,
      password: 'correct horse battery staple',
      platformRole: 'admin',
    });
    const ops = await signedIn(email, 'correct horse battery staple');
    const renewed = (await p.core.payments.subscriptions.list(acct.org.id)).find(
      (s) => s.appId === monthly.appId,
    )!;
    const renewalInvoice = renewed.invoices.find((i) => i.kind === 'renewal')!;
    const refund = await ops.page.request.post(`/v1/admin/payments/invoices/${renewalInvoice.id}/refunds`, {
      data: { amount: 1_900, reason: 'requested_by_customer' },
      headers: { 'x-csrf-token': ops.csrf },
    });
    expect(refund.status()).toBe(201);
    await w.settle();

    // 6. The terms ran out; the operator runs payouts from the Finance page.
    await p.core.db.query(
      "UPDATE ledger_partner_lines SET available_at = now() - interval '1 day' WHERE party = $1",
      [dev],
    );
    await ops.page.goto('/operations/finance');
    await ops.page.getByTestId('run-payouts').click();
    await ops.page.getByText(/Payout run done: \d+ paid/).waitFor();
    const [payout] = await p.core.ledger.payoutsOf(dev);
    expect(payout).toMatchObject({ state: 'paid' });

    // 7. Every balance on the pages is the ledger's.
    const [b] = await p.core.ledger.balances(dev);
    expect(b).toMatchObject({ currency: 'USD', available: 0n, inTransit: 0n, paid: payout.amount });
    await devUser.page.goto(`/orgs/${dev}/earnings`);
    await devUser.page.getByRole('heading', { name: 'Earnings' }).waitFor();
    const row = devUser.page.getByTestId('balance-USD');
    expect(await row.getByTestId('pending').textContent()).toBe(money(b.pending));
    expect(await row.getByTestId('available').textContent()).toBe(money(b.available));
    expect(await row.getByTestId('paid').textContent()).toBe(money(b.paid));
    const payoutRow = devUser.page.getByTestId(`payout-${payout.id}`);
    await expect(payoutRow.textContent()).resolves.toContain(money(payout.amount));
    await payoutRow.getByRole('button', { name: 'Lines' }).click();
    const paidLines = devUser.page.getByRole('table', { name: 'Invoice lines of the payout' });
    const invoices = (await p.core.payments.subscriptions.list(acct.org.id)).flatMap((s) => s.invoices);
    expect(invoices.map((i) => i.kind).sort()).toEqual(['initial', 'renewal', 'usage']);
    for (const inv of invoices) await paidLines.getByText(inv.id).waitFor();

    // The operator's figures are the ledger's over the page's period.
    const { from } = await (await ops.page.request.get('/v1/admin/finance/overview')).json();
    await ops.page.reload();
    await ops.page.getByTestId('figure-gmv').waitFor();
    const [usd] = (await p.core.ledger.overview({ from: new Date(from), to: new Date() })).filter(
      (o) => o.currency === 'USD',
    );
    for (const key of ['gmv', 'platformRevenue', 'processingFees', 'refunds', 'payoutsPaid'] as const)
      expect(await ops.page.getByTestId(`figure-${key}`).locator('td').textContent(), key).toBe(
        money(usd[key]),
      );

    // The customer's Billing page: the renewal with its refund, the usage charge.
    await customer.page.goto(`/orgs/${acct.org.id}/billing`);
    const renewalRow = customer.page.getByRole('row').filter({ hasText: renewalInvoice.id });
    await renewalRow.waitFor();
    expect(await renewalRow.textContent()).toMatch(/renewal.*\$49\.00.*paid.*\$19\.00/);
    const usageInvoice = invoices.find((i) => i.kind === 'usage')!;
    expect(usageInvoice).toMatchObject({ amount: 1_500, status: 'paid' });
    expect(await customer.page.getByRole('row').filter({ hasText: usageInvoice.id }).textContent()).toMatch(
      /usage.*\$15\.00.*paid/,
    );
    const v = await p.core.ledger.verify();
    expect(v).toMatchObject({ mismatches: [], unbalanced: [] });
    for (const x of [devUser, customer, ops]) await x.context.close();
  }, 120_000);
}

describe('the money story in one world (sandbox)', () => moneyStory(sandboxWorld));

describe('the money story in one world (Stripe adapter on the fake Stripe)', () => {
  beforeAll(async () => {
    fake = await startFakeStripe();
    onStripe = await startPlazaServer({ env: fake.env(), workers: false });
    fake.setWebhookUrl(`${onStripe.baseUrl}/v1/payments/stripe/webhook`);
  }, 120_000);
  afterAll(async () => {
    await fake?.close();
    await onStripe?.close();
  });
  moneyStory(fakeStripeWorld);
});
