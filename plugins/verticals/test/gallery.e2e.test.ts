/**
 * The agency flow in real Chromium against a real Plaza server: an agency
 * admin opens Industry templates from the navigation, picks the dental clinic, names a new sub-account,
 * looks at the plan and applies it. The test counts the person's steps
 * (clicks and typing), not time, and checks through the API that the new
 * sub-account has the vertical.
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
  plaza = await startPlazaServer({ env: { PLAZA_PLUGINS: 'verticals', PLAZA_PLUGINS_DIR: 'plugins' } });
}, 180_000);

afterAll(async () => {
  await context?.close().catch(() => {});
  await browser?.close();
  await plaza?.close();
});

describe('verticals gallery', () => {
  it('an agency admin creates a dental sub-account from the gallery in a handful of steps', async () => {
    context = await browser!.newContext({ baseURL: plaza.baseUrl, viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(10_000);
    const email = `agency-${run}@example.test`;
    const auth = await context.request.post('/v1/auth/signup', {
      data: { name: 'Agnes Agency', email, password: 'correct horse battery staple' },
    });
    const csrf = (await auth.json()).csrfToken as string;
    const agency = (await (
      await context.request.post('/v1/organizations', {
        data: { name: `Smile Partners ${run}`, kind: 'agency' },
        headers: { 'x-csrf-token': csrf },
      })
    ).json()) as { id: string };
    const page = await context.newPage();

    let steps = 0;
    const step = async (action: Promise<unknown>) => {
      steps++;
      await action;
    };

    await page.goto(`/orgs/${agency.id}/members`);
    await step(
      page
        .getByRole('navigation', { name: /sections/ })
        .getByRole('link', { name: 'Industry templates' })
        .click(),
    );
    const card = page.locator('[data-vertical="dental-clinic"]');
    await expect.poll(() => card.count()).toBe(1);
    await step(card.getByRole('button', { name: 'Preview' }).click());
    await expect.poll(() => card.locator('.preview').textContent()).toMatch(/Insurance provider/);
    await step(card.getByRole('button', { name: 'Use this template' }).click());
    await step(page.getByLabel('Name').fill('Downtown Dental'));
    await step(page.getByRole('button', { name: 'Show what changes' }).click());
    await expect.poll(() => page.locator('.plan').textContent()).toMatch(/0 conflicts/);
    await step(page.getByRole('button', { name: 'Apply', exact: true }).click());
    await expect
      .poll(() => page.getByRole('status').textContent(), { timeout: 15_000 })
      .toMatch(/Dental clinic 1\.0\.0 applied/);
    expect(steps).toBeLessThanOrEqual(6);

    // The sub-account exists and has the vertical, as its API shows.
    const subs = (await (await context.request.get(`/v1/organizations/${agency.id}/sub-accounts`)).json())
      .data as Array<{
      id: string;
      name: string;
    }>;
    const sub = subs.find((s) => s.name === 'Downtown Dental');
    expect(sub).toBeDefined();
    const fields = await (await context.request.get(`/v1/organizations/${sub!.id}/contact-fields`)).json();
    expect(fields.data.map((f: { key: string }) => f.key)).toContain('insuranceProvider');
    const applied = await (
      await context.request.get(`/v1/verticals/organizations/${sub!.id}/applied`)
    ).json();
    expect(applied.data).toEqual([expect.objectContaining({ vertical: 'dental-clinic', version: '1.0.0' })]);

    // Applying again to the same sub-account changes nothing, and says so.
    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/Nothing to do/);

    // A second sub-account: "every sub-account" applies where it is missing and reports each.
    await context.request.post(`/v1/organizations/${agency.id}/sub-accounts`, {
      data: { name: 'Uptown Dental' },
      headers: { 'x-csrf-token': csrf },
    });
    await page.reload();
    await page
      .locator('[data-vertical="dental-clinic"]')
      .getByRole('button', { name: 'Use this template' })
      .click();
    await page.getByLabel('Sub-account').selectOption('all');
    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    const rows = page.getByRole('table', { name: 'Sub-accounts' }).getByRole('row');
    // Two applies in a row on a shared machine: poll longer than the default second.
    await expect
      .poll(() => rows.filter({ hasText: 'Uptown Dental' }).textContent(), { timeout: 15_000 })
      .toMatch(/applied/);
    expect(await rows.filter({ hasText: 'Downtown Dental' }).textContent()).toMatch(/nothing to do/);
  }, 120_000);
});
