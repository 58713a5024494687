/**
 * An agency in Chromium: Ana makes a sub-account from a template on the
 * Templates page (theme, an app, a contact field) and reads what it did; she
 * finds it on the Dashboard with the apps it has, what it pays at her resale
 * price and what she earned; a sub-account whose renewal failed is paused from
 * the Dashboard, and its own admin, opening it, lands on the paused page with
 * the amount to pay at Ana's price (never the developer's).
 *
 * PLAZA_E2E_SCREENSHOTS=<folder> saves a screenshot of each step there.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import type { OrgContext } from '../../server/tenancy.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { linkToken, mailTo } from '../helpers/email.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { type Person, person, registerApp, type TestApp } from '../helpers/world.ts';

let plaza: PlazaServer;
let tracker: TestApp;
let ana: Person;
let cleo: Person;
let agency: OrgContext;
let late: { id: string; name: string };
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  plaza = await startPlazaServer();
  // Free Forms is what the template installs.
  await registerApp(plaza, { name: 'Free Forms', redirectUris: ['https://forms.example.com/cb'] });
  tracker = await registerApp(plaza, {
    name: 'Call Tracker',
    redirectUris: ['https://tracker.example.com/cb'],
    pricing: { type: 'recurring', interval: 'month', amount: 1_000, currency: 'USD', trialDays: 7 },
  });
  ana = await person(plaza, 'Ana Agency');
  const org = await plaza.core.organizations.create(ana.actor, { name: 'Bright Agency', kind: 'agency' });
  agency = await plaza.core.organizations.resolveContext(ana.actor, org.id);
  await plaza.core.agency.resale.setPrice(agency, tracker.appId, { type: 'percent', value: 5000 });
  await plaza.core.agency.setPauseGrace(agency, 0);

  // Late Clinic took the tracker on trial (15.00 USD a month at Ana's price) and its renewal failed.
  late = await plaza.core.organizations.createSubAccount(agency, { name: 'Late Clinic' });
  cleo = await person(plaza, 'Cleo Clinic');
  const lateCtx = await plaza.core.organizations.resolveContext(ana.actor, late.id);
  await plaza.core.organizations.invite(lateCtx, { email: cleo.email, role: 'admin' });
  const token = linkToken(await mailTo(plaza, cleo.email, /invit/i), '/invitations');
  await plaza.core.organizations.acceptInvitation(cleo.actor, token);
  await plaza.core.installations.admit({
    accountId: late.id,
    appId: tracker.appId,
    versionId: tracker.versionId,
    grantedScopes: tracker.scopes,
    actor: cleo.actor,
    via: 'consent',
  });
  await plaza.core.installations.create({
    accountId: late.id,
    appId: tracker.appId,
    versionId: tracker.versionId,
    grantedScopes: tracker.scopes,
    actor: cleo.actor,
  });
  const [sub] = await plaza.core.payments.subscriptions.list(late.id);
  await plaza.core.payments.subscriptions.renewDue(new Date(Date.parse(sub.trialEnd!) + 1000));

  browser = await launchBrowser();
  context = await browser.newContext({ baseURL: plaza.baseUrl, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
  await page.request.post('/v1/auth/login', { data: { email: ana.email, password: ana.password } });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await plaza?.close();
});

async function snap(p: Page, name: string): Promise<void> {
  const dir = process.env.PLAZA_E2E_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await p.screenshot({ path: path.join(dir, `agency-${name}.png`), fullPage: true });
}

describe('an agency in the browser', () => {
  it('makes a sub-account from a template in the wizard and reads what was done', async () => {
    await page.goto(`/orgs/${agency.org.id}/templates`);
    await page.getByLabel('Template name').fill('Dental practice');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Brand name').fill('Bright Dental');
    await page.getByLabel('Primary colour').fill('#114477');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('checkbox', { name: 'Free Forms' }).check();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Add a field' }).click();
    await page.getByLabel('Field 1 key').fill('insurer');
    await page.getByLabel('Field 1 label').fill('Insurer');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('New sub-account name').fill('Dental One');
    await snap(page, 'wizard');
    await page.getByRole('button', { name: 'Create sub-account' }).click();
    await page.getByRole('heading', { name: 'Created Dental One: 3 change(s)' }).waitFor();
    const report = page.getByRole('status').filter({ hasText: 'Created Dental One' });
    await expect(report.getByRole('row', { name: /Free Forms Done/ }).count()).resolves.toBe(1);
    await expect(report.getByRole('row', { name: /insurer Done/ }).count()).resolves.toBe(1);
    await snap(page, 'wizard-report');

    // Applied again: nothing changes, and the page says so.
    await page.getByLabel('Or apply it to a sub-account').selectOption({ label: 'Dental One' });
    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    await page.getByRole('heading', { name: 'Applied to Dental One: nothing changed' }).waitFor();
  });

  it("shows the sub-account's admin the marketplace at the agency's price", async () => {
    const cleoPage = await (await browser!.newContext({ baseURL: plaza.baseUrl })).newPage();
    await cleoPage.request.post('/v1/auth/login', { data: { email: cleo.email, password: cleo.password } });
    await cleoPage.goto(`/orgs/${late.id}/members`);
    await cleoPage.getByRole('heading', { name: 'Late Clinic' }).waitFor();
    await cleoPage.goto('/marketplace');
    const card = cleoPage.getByRole('listitem').filter({ hasText: 'Call Tracker' });
    await card.getByText('$15.00 / month').waitFor();
    expect(await cleoPage.locator('body').textContent()).not.toContain('$10.00');
    await snap(cleoPage, 'marketplace');
    await cleoPage.context().close();
  });

  it('finds sub-accounts on the dashboard with their apps and what they pay, and pauses one that did not pay', async () => {
    await page.goto(`/orgs/${agency.org.id}/agency`);
    const row = (name: string) => page.getByRole('row').filter({ hasText: name });
    await row('Dental One').getByText('Free Forms').waitFor();
    await expect(row('Late Clinic').textContent()).resolves.toMatch(/Call Tracker: \$15\.00 \/ month/);
    await page.getByLabel('Search').fill('dental');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.getByTestId('total-sub-accounts').textContent()).toBe('1');
    await expect(row('Late Clinic').count()).resolves.toBe(0);
    await page.getByLabel('Search').fill('');
    await page.getByLabel('Status').selectOption('past_due');
    await expect.poll(() => row('Late Clinic').count()).toBe(1);
    await expect(row('Dental One').count()).resolves.toBe(0);
    await snap(page, 'dashboard');
    await row('Late Clinic').getByRole('button', { name: 'Pause' }).click();
    await page.getByText('Late Clinic is paused').waitFor();
    await row('Late Clinic').getByText('Paused').waitFor();
  });

  it("shows the paused sub-account's admin why, and what to pay at the agency's price", async () => {
    const cleoPage = await (await browser!.newContext({ baseURL: plaza.baseUrl })).newPage();
    await cleoPage.request.post('/v1/auth/login', { data: { email: cleo.email, password: cleo.password } });
    await cleoPage.goto(`/orgs/${late.id}/members`);
    await cleoPage.waitForURL(`**/paused/${late.id}`);
    await cleoPage.getByRole('heading', { name: 'Late Clinic is paused' }).waitFor();
    const body = await cleoPage.locator('body').textContent();
    expect(body).toContain('Bright Agency paused this account');
    expect(body).toMatch(/Call Tracker\s*\$15\.00/);
    expect(body).not.toContain('$10.00');
    await cleoPage.getByRole('link', { name: 'Pay now' }).waitFor();
    await snap(cleoPage, 'paused');
  });
});
