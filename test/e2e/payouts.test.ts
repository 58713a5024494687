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
 * PLAZA_E2E_SCREENSHOTS=<folder> saves a screenshot of each step there.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { account, person, registerApp } from '../helpers/world.ts';

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
