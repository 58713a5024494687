/**
 * Plugin pages in the web app, end to end: real Chromium, real Plaza server,
 * real database. With the `tiers` fixture plugin enabled, an account's owner
 * sees its "Plan" page in the organization's navigation (a developer
 * organization does not: the page is for accounts), opens it, and changes
 * the plugin's settings on the generic settings page (a bad value shows by
 * its field); an operator sees the operator page. Without the plugin the
 * link is not there and its URL is "not found".
 */
import { randomBytes } from 'node:crypto';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';

const run = randomBytes(3).toString('hex');
let browser: Browser | undefined;
const servers: PlazaServer[] = [];
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  for (const s of servers) await s.close();
});

async function plazaWith(env: Record<string, string>): Promise<PlazaServer> {
  const plaza = await startPlazaServer({ env });
  servers.push(plaza);
  return plaza;
}

/** A person signed up in a fresh browser context, with an account and a developer organization. */
async function signedIn(plaza: PlazaServer, label: string, platformRole?: 'admin') {
  const context = await browser!.newContext({
    baseURL: plaza.baseUrl,
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(10_000);
  contexts.push(context);
  const email = `${label}-${run}@example.test`;
  const password = 'correct horse battery staple';
  if (platformRole)
    await plaza.core.identity.createUser(plaza.core.db, { name: label, email, password, platformRole });
  const auth = platformRole
    ? await context.request.post('/v1/auth/login', { data: { email, password } })
    : await context.request.post('/v1/auth/signup', { data: { name: label, email, password } });
  const csrf = (await auth.json()).csrfToken as string;
  const org = async (name: string, kind: string) =>
    (await (
      await context.request.post('/v1/organizations', {
        data: { name, kind },
        headers: { 'x-csrf-token': csrf },
      })
    ).json()) as {
      id: string;
    };
  return { page: await context.newPage(), org };
}

const nav = (page: Page) => page.getByRole('navigation', { name: /sections/ });

describe('plugin pages', () => {
  it('shows an enabled plugin’s page to the roles and org kinds it names, and its settings form', async () => {
    const plaza = await plazaWith({ PLAZA_PLUGINS: 'tiers', PLAZA_PLUGINS_DIR: 'test/fixtures/plugins' });
    const { page, org } = await signedIn(plaza, 'owner');
    const dev = await org(`Dev ${run}`, 'developer');
    const shop = await org(`Shop ${run}`, 'account');

    await page.goto(`/orgs/${dev.id}/members`);
    await expect.poll(() => nav(page).getByRole('link', { name: 'Members' }).count()).toBe(1);
    expect(await nav(page).getByRole('link', { name: 'Plan', exact: true }).count()).toBe(0);

    await page.goto(`/orgs/${shop.id}/members`);
    await nav(page).getByRole('link', { name: 'Plan', exact: true }).click();
    await expect.poll(() => page.url()).toContain(`/orgs/${shop.id}/x/tiers/plan`);
    await expect.poll(() => page.locator('.tiers-plan').textContent()).toBe('Plan: free');

    await nav(page).getByRole('link', { name: 'Plugin settings' }).click();
    const form = page.getByRole('form', { name: /tiers/ });
    await form.getByRole('combobox', { name: /^Plan\b/ }).selectOption('pro');
    await form.getByLabel('Max Contacts').fill('-5');
    await form.getByRole('button', { name: 'Save' }).click();
    await expect
      .poll(() => form.locator('.field-error').first().textContent())
      .toMatch(/>=0|at least|too small/i);
    await form.getByLabel('Max Contacts').fill('20');
    await form.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => form.getByRole('status').textContent()).toBe('Saved.');

    // Reloading the plugin's page directly (routes added after the first navigation) shows the new plan.
    await page.goto(`/orgs/${shop.id}/x/tiers/plan`);
    await expect.poll(() => page.locator('.tiers-plan').textContent()).toBe('Plan: pro');

    const op = await signedIn(plaza, 'operator', 'admin');
    await op.page.goto('/');
    await op.page.getByRole('link', { name: 'Tiers', exact: true }).click();
    await expect.poll(() => op.page.locator('.tiers-operator').count()).toBe(1);
  }, 60_000);

  it('shows no page of a plugin that is not enabled', async () => {
    const plaza = await plazaWith({});
    const { page, org } = await signedIn(plaza, 'plain');
    const shop = await org(`Plain ${run}`, 'account');
    await page.goto(`/orgs/${shop.id}/members`);
    await expect.poll(() => nav(page).getByRole('link', { name: 'Members' }).count()).toBe(1);
    expect(await nav(page).getByRole('link', { name: 'Plan', exact: true }).count()).toBe(0);
    expect(await nav(page).getByRole('link', { name: 'Plugin settings' }).count()).toBe(0);
    await page.goto(`/orgs/${shop.id}/x/tiers/plan`);
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).first().textContent())
      .toMatch(/not found/i);
    expect(await page.locator('.tiers-plan').count()).toBe(0);
  }, 60_000);
});
