/**
 * Agency bulk install in Chromium: Ana administers an agency with three
 * sub-accounts, one of which already has the app. On "Install apps" she
 * searches the marketplace, chooses the app, reads what it will be able to do
 * (an optional scope she leaves out), sees the sub-account that has it
 * already, selects the others, confirms, and reads the result of each one.
 *
 * PLAZA_E2E_SCREENSHOTS=<folder> saves a screenshot of each step there.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import type { OrgContext } from '../../server/tenancy.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { type Person, person, registerApp, type TestApp } from '../helpers/world.ts';

let plaza: PlazaServer;
let app: TestApp;
let ana: Person;
let agency: OrgContext;
const subs: Record<string, string> = {};
let browser: Browser | undefined;
let page: Page;

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  plaza = await startPlazaServer();
  app = await registerApp(plaza, {
    name: 'Review Booster',
    redirectUris: ['https://booster.example.com/callback'],
    scopes: [{ name: 'contacts:read' }, { name: 'users:read', optional: true }],
  });
  ana = await person(plaza, 'Ana Agency');
  const org = await plaza.core.organizations.create(ana.actor, { name: 'Bright Agency', kind: 'agency' });
  agency = await plaza.core.organizations.resolveContext(ana.actor, org.id);
  for (const name of ['Alpha Dental', 'Beta Bakery', 'Gamma Gym'])
    subs[name] = (await plaza.core.organizations.createSubAccount(agency, { name })).id;
  // Alpha Dental has it already.
  await plaza.core.agency.bulkInstall(agency, { appId: app.appId, subAccountIds: [subs['Alpha Dental']] });

  browser = await launchBrowser();
  const context = await browser.newContext({
    baseURL: plaza.baseUrl,
    viewport: { width: 1200, height: 900 },
  });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
  await page.request.post('/v1/auth/login', { data: { email: ana.email, password: ana.password } });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await plaza?.close();
});

async function snap(name: string): Promise<void> {
  const dir = process.env.PLAZA_E2E_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `bulk-install-${name}.png`), fullPage: true });
}

describe('agency bulk install', () => {
  it('chooses an app, shows its access and who has it, installs into the ticked sub-accounts', async () => {
    await page.goto(`/orgs/${agency.org.id}/members`);
    await page.getByRole('navigation').getByRole('link', { name: 'Install apps' }).click();
    await page.getByRole('heading', { name: 'Install an app into sub-accounts' }).waitFor();

    const search = page.getByRole('search', { name: 'Search the marketplace' });
    await search.getByLabel('App').fill('Review Booster');
    await search.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('button', { name: 'Choose Review Booster' }).click();

    const access = page.getByRole('list', { name: 'What it will be able to do' });
    await access.getByText('See your contacts and their details').waitFor();
    await access.getByText('users:read').waitFor();
    // Alpha Dental has it: shown as installed, not selectable.
    const alpha = page.getByRole('listitem').filter({ hasText: 'Alpha Dental' });
    await alpha.getByText('Installed').waitFor();
    expect(await alpha.getByRole('checkbox').isDisabled()).toBe(true);

    // The optional scope is left out; Select all ticks the two that can take the app.
    await access.getByRole('checkbox').uncheck();
    await page.getByRole('button', { name: 'Select all' }).click();
    await snap('01-chosen');
    await page.getByRole('button', { name: 'Install in 2 sub-accounts…' }).click();
    const confirm = page.getByRole('group', { name: 'Confirm the installation' });
    await confirm.getByText('Install Review Booster in 2 sub-accounts?').waitFor();
    await snap('02-confirm');
    await confirm.getByRole('button', { name: 'Confirm and install' }).click();

    const results = page.getByRole('table', { name: 'Results per sub-account' });
    await page.getByRole('heading', { name: '2 installed' }).waitFor();
    await results.getByRole('row').filter({ hasText: 'Beta Bakery' }).getByText('Installed').waitFor();
    await results.getByRole('row').filter({ hasText: 'Gamma Gym' }).getByText('Installed').waitFor();
    // The list now shows every sub-account with the app.
    await page.getByRole('listitem').filter({ hasText: 'Gamma Gym' }).getByText('Installed').waitFor();
    await page.getByText('No other sub-account can take Review Booster').waitFor();
    expect(await access.getByRole('checkbox').isChecked()).toBe(false);
    await snap('03-results');

    for (const name of ['Beta Bakery', 'Gamma Gym']) {
      const inst = await plaza.core.installations.findActive(subs[name], app.appId);
      expect(inst, name).toMatchObject({ grantedScopes: ['contacts:read'], installedBy: ana.user.id });
    }
  });
});
