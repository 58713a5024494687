/**
 * The billing story in real Chromium against a real Plaza server (sandbox
 * payments): an account admin subscribes on "Plan & billing" with the
 * proration shown first, pays on the payment page, goes over the included
 * usage and sees the overage, then the renewal's payment fails -> grace ->
 * limited -> paid on the payment page -> active again. Days pass by moving
 * the subscription's dates in the database; the card "expires" by removing
 * the saved payment method.
 */
import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { buildWeb } from '../../../scripts/build-web.ts';
import { launchBrowser } from '../../../test/helpers/browser.ts';
import type { PlazaServer } from '../../../test/helpers/plaza.ts';
import type { SignedIn } from '../../../test/helpers/world.ts';
import { post, startBilling } from './world.ts';

const run = randomBytes(3).toString('hex');
const DAY = 86_400_000;
// A loaded machine answers slowly: polls wait for what the person would wait for.
const WAIT = { timeout: 15_000, interval: 250 };
let browser: Browser | undefined;
let context: BrowserContext | undefined;
let plaza: PlazaServer;
let operator: SignedIn;

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  browser = await launchBrowser();
  ({ plaza, operator } = await startBilling({ PLAZA_PLUGIN_BILLING_INVOICE_DELAY_HOURS: '0' }));
  await post(operator, '/v1/billing/meters', {
    key: 'api_calls',
    name: 'API calls',
    aggregation: 'count',
  }).expect(201);
  const plan = (body: object) =>
    post(operator, '/v1/billing/plans', { currency: 'USD', priceYear: 0, ...body });
  await plan({ key: 'free', name: 'Free', isFree: true, priceMonth: 0, features: { contacts: 1 } }).expect(
    201,
  );
  await plan({
    key: 'pro',
    name: 'Pro',
    priceMonth: 3000,
    priceYear: 30000,
    features: { contacts: 100 },
    meters: [{ meter: 'api_calls', included: 1000, price: { model: 'flat', unitAmount: 2 } }],
  }).expect(201);
}, 240_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await browser?.close();
  await plaza?.close();
});

async function payOnSandboxPage(page: Page) {
  await page.waitForURL(/sandbox\/checkout/);
  await page.getByLabel('Card number').fill('4242 4242 4242 4242');
  await page.getByRole('button', { name: 'Pay' }).click();
  await page.waitForURL(/x\/billing\/plan/);
}

describe('Plan & billing page', () => {
  it('subscribe, exceed the included usage, see the overage; payment fails -> grace -> limited -> pay -> restored', async () => {
    context = await browser!.newContext({ baseURL: plaza.baseUrl, viewport: { width: 1280, height: 1000 } });
    context.setDefaultTimeout(15_000);
    const auth = await context.request.post('/v1/auth/signup', {
      data: {
        name: 'Bea Billing',
        email: `bea-${run}@example.test`,
        password: 'correct horse battery staple',
      },
    });
    const csrf = (await auth.json()).csrfToken as string;
    const acct = (await (
      await context.request.post('/v1/organizations', {
        data: { name: `Billed Shop ${run}`, kind: 'account' },
        headers: { 'x-csrf-token': csrf },
      })
    ).json()) as { id: string };
    const page = await context.newPage();
    // What the browser saw, printed only if the test fails (a CI run once timed out waiting for the first page).
    const seen: string[] = [];
    page.on('pageerror', (err) => seen.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => seen.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
    page.on('response', (res) => {
      if (res.status() >= 400) seen.push(`HTTP ${res.status()} ${res.request().method()} ${res.url()}`);
    });
    const pending = new Set<string>();
    page.on('request', (req) => pending.add(`${req.method()} ${req.url()}`));
    page.on('requestfinished', (req) => pending.delete(`${req.method()} ${req.url()}`));
    page.on('requestfailed', (req) => pending.delete(`${req.method()} ${req.url()}`));
    onTestFailed(async () =>
      console.error(
        `browser saw:\n${seen.join('\n') || '(nothing unusual)'}\nat ${page.url()}`,
        `\nrequests unanswered: ${[...pending].join(', ') || 'none'}`,
        `\npage text: ${(
          await page
            .locator('body')
            .innerText()
            .catch(() => '?')
        ).slice(0, 800)}`,
      ),
    );
    const status = page.getByTestId('plan-status');

    await page.goto(`/orgs/${acct.id}/x/billing/plan`);
    // A select's accessible name is its label and the option shown ("Plan Free – 0.00 USD / month"
    // once the plans load), so an exact 'Plan' matched only before they did.
    await page.getByRole('combobox', { name: /^Plan\b/ }).selectOption('pro');
    await page.getByRole('button', { name: 'Preview' }).click();
    await expect.poll(() => page.getByTestId('due-now').textContent(), WAIT).toBe('30.00 USD');
    await page.getByRole('button', { name: 'Confirm' }).click();
    // No card saved yet: the first payment failed, the plan is whole during the grace period.
    await expect.poll(() => status.textContent(), WAIT).toBe('Payment failed: grace period');
    await page.getByRole('button', { name: 'Pay' }).click();
    await payOnSandboxPage(page);
    await expect.poll(() => status.textContent(), WAIT).toBe('Active');

    // The current period started a month ago (moved in the database) and ends tomorrow.
    const today = new Date(Math.floor(Date.now() / DAY) * DAY);
    const start = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, today.getUTCDate()));
    const setPeriod = (end: Date) =>
      plaza.core.db.query(
        'UPDATE billing_subscriptions SET period_start = $2, period_end = $3 WHERE organization_id = $1',
        [acct.id, start.toISOString(), end.toISOString()],
      );
    await setPeriod(new Date(today.getTime() + DAY));
    // 1,500 calls against 1,000 included: 500 x 0.02 so far.
    const yesterday = new Date(Date.now() - DAY).toISOString();
    await post(operator, `/v1/billing/accounts/${acct.id}/events/batch`, {
      events: Array.from({ length: 1000 }, (_, i) => ({
        transactionId: `a${i}`,
        meter: 'api_calls',
        timestamp: yesterday,
      })),
    }).expect(200);
    await post(operator, `/v1/billing/accounts/${acct.id}/events/batch`, {
      events: Array.from({ length: 500 }, (_, i) => ({
        transactionId: `b${i}`,
        meter: 'api_calls',
        timestamp: yesterday,
      })),
    }).expect(200);
    await page.reload();
    const usage = page.getByTestId('usage-api_calls');
    await expect.poll(() => usage.textContent(), WAIT).toMatch(/1500 unit\s*1000\s*10\.00 USD/);

    // The period ends (moved to today) and the card no longer works.
    await plaza.core.db.query('DELETE FROM payments_platform_methods WHERE organization_id = $1', [acct.id]);
    await setPeriod(today);
    await expect
      .poll(
        async () => {
          await page.reload();
          return status.textContent();
        },
        { timeout: 20_000, interval: 1000 },
      )
      .toBe('Payment failed: grace period');
    // The renewal invoice shows the fee and the overage: 30.00 + 10.00.
    await expect.poll(() => page.locator('table').last().textContent(), WAIT).toMatch(/40\.00 USD\s*open/);

    // Past the grace period: limited to the free plan, nothing deleted.
    await plaza.core.db.query(
      `UPDATE billing_subscriptions SET past_due_since = now() - interval '8 days', retries_done = 3,
         grace_until = now() - interval '1 day' WHERE organization_id = $1`,
      [acct.id],
    );
    await expect
      .poll(
        async () => {
          await page.reload();
          return status.textContent();
        },
        { timeout: 20_000, interval: 1000 },
      )
      .toBe('Limited until paid');
    await expect.poll(() => page.locator('body').textContent(), WAIT).toMatch(/Nothing was deleted/);

    await page.getByRole('button', { name: 'Pay' }).click();
    await payOnSandboxPage(page);
    await expect
      .poll(
        async () => {
          await page.reload();
          return status.textContent();
        },
        { timeout: 20_000, interval: 1000 },
      )
      .toBe('Active');
  }, 180_000);
});
