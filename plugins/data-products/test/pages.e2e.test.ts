/**
 * The data-products pages in real Chromium against a real Plaza: an account
 * admin sets the cohort and opts in on Data sharing (and out again), and an
 * operator refreshes a product and reads its privacy budget on Data products.
 */
import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../../scripts/build-web.ts';
import { launchBrowser } from '../../../test/helpers/browser.ts';
import { type PlazaServer, startPlazaServer } from '../../../test/helpers/plaza.ts';

const run = randomBytes(3).toString('hex');
let browser: Browser | undefined;
let context: BrowserContext | undefined;
let plaza: PlazaServer;

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  browser = await launchBrowser();
  plaza = await startPlazaServer({ env: { PLAZA_PLUGINS: 'data-products', PLAZA_PLUGINS_DIR: 'plugins' } });
}, 180_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await browser?.close();
  await plaza?.close();
});

describe('data products pages', () => {
  it('an account admin sets the cohort, opts in and out on Data sharing', async () => {
    context = await browser!.newContext({ baseURL: plaza.baseUrl, viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
    const auth = await context.request.post('/v1/auth/signup', {
      data: {
        name: 'Dana Dentist',
        email: `dana-${run}@example.test`,
        password: 'correct horse battery staple',
      },
    });
    const csrf = (await auth.json()).csrfToken as string;
    const acct = (await (
      await context.request.post('/v1/organizations', {
        data: { name: `Bright Smiles ${run}`, kind: 'account' },
        headers: { 'x-csrf-token': csrf },
      })
    ).json()) as { id: string };
    const page = await context.newPage();
    await page.goto(`/orgs/${acct.id}/x/data-products/sharing`);

    const card = page.locator('[data-product="weekly_new_contacts"]');
    await expect.poll(() => card.textContent()).toMatch(/Not contributing/);
    // Opting in needs a cohort first.
    expect(await card.getByRole('button', { name: 'Opt in' }).isDisabled()).toBe(true);

    await page.getByLabel('Business type').selectOption('dental-clinic');
    await page.getByLabel('Region').selectOption('europe');
    await page.getByRole('button', { name: 'Save cohort' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/Saved/);

    await card.getByRole('button', { name: 'Opt in' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/You contribute from now on/);
    await expect.poll(() => card.textContent()).toMatch(/Contributing since/);
    // The scheduled refresh ran at start; one contributor is far from k, so no figures, and its own count.
    await expect
      .poll(() => card.textContent())
      .toMatch(/Not enough businesses of your type contribute yet \(at least 50/);
    expect(await card.textContent()).toMatch(/You: 0/);

    const sharing = await (
      await context.request.get(`/v1/data-products/organizations/${acct.id}/sharing`)
    ).json();
    expect(sharing.profile).toEqual({ vertical: 'dental-clinic', region: 'europe' });
    expect(sharing.products.find((p: { id: string }) => p.id === 'weekly_new_contacts').optedIn).toBe(true);

    await card.getByRole('button', { name: 'Opt out' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/Opted out/);
    await expect.poll(() => card.textContent()).toMatch(/Not contributing/);
  }, 120_000);

  it('an operator refreshes a product and sees its privacy budget', async () => {
    const email = `ops-${run}@example.test`;
    const password = 'correct horse battery staple';
    await plaza.core.identity.createUser(plaza.core.db, {
      name: 'Otto Operator',
      email,
      password,
      platformRole: 'admin',
    });
    const ops = await browser!.newContext({ baseURL: plaza.baseUrl, viewport: { width: 1280, height: 900 } });
    ops.setDefaultTimeout(10_000);
    try {
      await ops.request.post('/v1/auth/login', { data: { email, password } });
      const page = await ops.newPage();
      await page.goto('/operator/x/data-products/products');
      await expect.poll(() => page.locator('h2').first().textContent()).toMatch(/Monthly app installs/);
      await page.getByRole('button', { name: 'Weekly new contacts' }).click();
      await expect.poll(() => page.locator('h2').first().textContent()).toMatch(/Weekly new contacts/);
      await expect.poll(() => page.locator('dl').textContent()).toMatch(/data:weekly_new_contacts:read/);
      const budget = async () =>
        (await ops.request.get('/v1/data-products/products/weekly_new_contacts/budget')).json();
      const before = (await budget()).periods[0]?.refreshedAt ?? '';
      await page.getByRole('button', { name: 'Refresh now' }).click();
      await expect.poll(async () => (await budget()).periods[0].refreshedAt > before).toBe(true);
      // Four weeks, none with a cohort yet (nobody contributes) and nothing spent.
      const rows = page.locator('table').first().locator('tbody tr');
      await expect.poll(() => rows.count()).toBe(4);
      expect(await rows.first().textContent()).toMatch(/0 \/ 4/);
      await expect.poll(() => page.locator('section').textContent()).toMatch(/No charges yet/);
    } finally {
      await ops.close();
    }
  }, 120_000);
});
