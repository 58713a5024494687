/**
 * Typed contact custom fields in the web app: real Chromium, real Plaza
 * server, real database. The account defines a date, a choice and a yes/no
 * field through the API; the contact form shows each under its label with an
 * input of its type, the saved contact holds typed values, and the list row
 * shows them by label.
 */
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';

const run = randomBytes(3).toString('hex');
let started: PlazaServer | undefined;
let browser: Browser | undefined;
let page: Page;
let account: { id: string };

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  started = await startPlazaServer({ workers: false });
  browser = await launchBrowser();
  const context = await browser.newContext({
    baseURL: started.baseUrl,
    viewport: { width: 1200, height: 900 },
  });
  context.setDefaultTimeout(10_000);
  page = await context.newPage();
  const signup = await page.request.post('/v1/auth/signup', {
    data: { name: 'Dee Dentist', email: `dee-${run}@example.test`, password: 'correct horse battery staple' },
  });
  const csrf = (await signup.json()).csrfToken;
  const headers = { 'x-csrf-token': csrf };
  account = await (
    await page.request.post('/v1/organizations', { data: { name: `Smile ${run}`, kind: 'account' }, headers })
  ).json();
  for (const field of [
    { key: 'nextRecall', label: 'Next recall', type: 'date' },
    { key: 'insurance', label: 'Insurance', type: 'select', options: ['Aetna', 'Cigna'] },
    { key: 'smsOk', label: 'Texts OK', type: 'boolean' },
  ]) {
    const res = await page.request.post(`/v1/organizations/${account.id}/contact-fields`, {
      data: field,
      headers,
    });
    expect(res.status()).toBe(201);
  }
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await started?.close();
});

describe('typed custom fields on the contacts page', () => {
  it('the form shows an input of each type; the contact keeps typed values', async () => {
    await page.goto(`/orgs/${account.id}/contacts`);
    await page.getByRole('button', { name: 'New contact' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Pat Patient');
    expect(await page.getByLabel('Next recall').getAttribute('type')).toBe('date');
    await page.getByLabel('Next recall').fill('2027-01-15');
    await page.getByLabel('Insurance').selectOption('Cigna');
    await page.getByLabel('Texts OK').selectOption('true');
    await page.getByRole('button', { name: 'Create contact' }).click();

    const row = page
      .getByRole('table', { name: 'Contacts' })
      .getByRole('row')
      .filter({ hasText: 'Pat Patient' });
    await expect.poll(() => row.count()).toBe(1);
    await expect.poll(() => row.textContent()).toMatch(/Insurance: Cigna/);
    const list = await (await page.request.get(`/v1/organizations/${account.id}/contacts`)).json();
    expect(list.data[0].customFields).toEqual({ nextRecall: '2027-01-15', insurance: 'Cigna', smsOk: true });
  }, 60_000);
});
