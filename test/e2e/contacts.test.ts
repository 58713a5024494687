/**
 * The contacts page end to end: real Chromium, real Plaza server, real database.
 *
 * Ann owns an account. On its Contacts page she is told what is wrong with a
 * phone number, creates contacts, searches and filters them by tag, sees the
 * change an installed app made (named, on the row), edits a contact (tags,
 * a custom field removed) and deletes one. An app installed through the
 * consent pages changes a contact with its token; the row names the app.
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
import {
  authorizationUrl,
  browserAgent,
  exchange,
  installByConsent,
  relyingParty,
} from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { type Person, registerApp } from '../helpers/world.ts';

const run = randomBytes(3).toString('hex');
const PASSWORD = 'correct horse battery staple';
const annEmail = `ann-${run}@example.test`;
let baseUrl = '';
let started: PlazaServer | undefined;
let browser: Browser | undefined;
let page: Page;
let account: { id: string; name: string };
let csrf = '';

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  started = await startPlazaServer({ workers: false });
  baseUrl = started.baseUrl;
  browser = await launchBrowser();
  const context = await browser.newContext({ baseURL: baseUrl, viewport: { width: 1200, height: 900 } });
  context.setDefaultTimeout(10_000);
  page = await context.newPage();

  // Ann signs up and opens an account through the API; the browser context keeps her session.
  const signup = await page.request.post('/v1/auth/signup', {
    data: { name: 'Ann Baker', email: annEmail, password: PASSWORD },
  });
  csrf = (await signup.json()).csrfToken;
  const created = await page.request.post('/v1/organizations', {
    data: { name: `Corner Bakery ${run}`, kind: 'account' },
    headers: { 'x-csrf-token': csrf },
  });
  account = await created.json();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await started?.close();
});

async function snap(name: string): Promise<void> {
  const dir = process.env.PLAZA_E2E_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `contacts-${name}.png`), fullPage: true });
}

const row = (text: string) =>
  page.getByRole('table', { name: 'Contacts' }).getByRole('row').filter({ hasText: text });

describe('contacts page', () => {
  it('creates contacts, naming what is wrong first', async () => {
    await page.goto(`/orgs/${account.id}/members`);
    await page.getByRole('navigation').getByRole('link', { name: 'Contacts' }).click();
    await page.getByRole('heading', { name: 'Contacts', exact: true }).waitFor();
    await page.getByText('No contacts yet.').waitFor();

    await page.getByRole('button', { name: 'New contact' }).click();
    const form = page.getByRole('form', { name: 'Create contact' });
    await form.getByLabel('Name').fill('Rosa Diaz');
    await form.getByLabel('Email').fill('rosa@example.com');
    await form.getByLabel('Phone').fill('555 0102');
    await form.getByLabel('Tags').fill('VIP, wholesale');
    await form.getByRole('button', { name: 'Add a field' }).click();
    await form.getByLabel('Field name').fill('birthday');
    await form.getByLabel('Value of birthday').fill('April 1');
    await form.getByRole('button', { name: 'Create contact' }).click();
    await form.getByRole('alert').getByText('phone: must be an international number').waitFor();
    expect(await form.getByLabel('Phone').getAttribute('aria-invalid')).toBe('true');
    await snap('01-phone-error');

    await form.getByLabel('Phone').fill('+1 (555) 010-2000');
    await form.getByRole('button', { name: 'Create contact' }).click();
    await page.getByText('Rosa Diaz was added.').waitFor();
    await row('Rosa Diaz').getByText('+15550102000').waitFor();
    await row('Rosa Diaz').getByText('birthday: April 1').waitFor();
    expect(await row('Rosa Diaz').getByText('by Ann Baker').isVisible()).toBe(true);

    for (const [name, email, tags] of [
      ['Bob Builder', 'bob@build.test', 'lead'],
      ['Carla Cruz', 'carla@cruz.test', 'vip, lead'],
    ]) {
      await page.getByRole('button', { name: 'New contact' }).click();
      const f = page.getByRole('form', { name: 'Create contact' });
      await f.getByLabel('Name').fill(name);
      await f.getByLabel('Email').fill(email);
      await f.getByLabel('Tags').fill(tags);
      await f.getByRole('button', { name: 'Create contact' }).click();
      await page.getByText(`${name} was added.`).waitFor();
    }
    await snap('02-list');
  });

  it('searches and filters by tag', async () => {
    const search = page.getByRole('search', { name: 'Search contacts' });
    await search.getByLabel('Search').fill('build.test');
    await search.getByRole('button', { name: 'Search' }).click();
    await row('Bob Builder').waitFor();
    await expect.poll(() => row('Rosa Diaz').count()).toBe(0);

    await search.getByLabel('Search').fill('');
    await search.getByLabel('Tags').fill('vip');
    await search.getByRole('button', { name: 'Search' }).click();
    await row('Carla Cruz').waitFor();
    await expect.poll(() => row('Bob Builder').count()).toBe(0);
    expect(await row('Rosa Diaz').count()).toBe(1);
    await search.getByLabel('Tags').fill('nobody');
    await search.getByRole('button', { name: 'Search' }).click();
    await page.getByText('No contact matches.').waitFor();
    await search.getByRole('button', { name: 'Clear' }).click();
    await row('Bob Builder').waitFor();
  });

  it('shows which app changed a contact', async () => {
    // A reviewed app is installed into the account through the consent pages; with its token it changes Bob.
    const plaza = started!;
    const callback = 'https://mailer.example.com/callback';
    const app = await registerApp(plaza, {
      name: 'Mailer Pro',
      redirectUris: [callback],
      scopes: [{ name: 'contacts:read' }, { name: 'contacts:write' }],
    });
    const config = await relyingParty(plaza, app);
    const start = await authorizationUrl(config, callback, 'contacts:read contacts:write');
    const ann = { email: annEmail, password: PASSWORD } as Person;
    const tokens = await exchange(
      config,
      await installByConsent(plaza, browserAgent(plaza), start, ann, account.id),
      start,
    );
    const bearer = { authorization: `Bearer ${tokens.access_token}` };
    const found = await plaza.http.get('/v1/contacts').query({ q: 'bob' }).set(bearer).expect(200);
    await plaza.http
      .patch(`/v1/contacts/${found.body.data[0].id}`)
      .set(bearer)
      .send({ tags: ['lead', 'newsletter'] })
      .expect(200);

    await page.reload();
    await row('Bob Builder').getByText('App: Mailer Pro').waitFor();
    await row('Bob Builder').getByText('newsletter').waitFor();
    await snap('03-changed-by-app');
  });

  it('edits a contact: only what changed is sent, a removed custom field goes away', async () => {
    await row('Rosa Diaz').getByRole('button', { name: 'Edit Rosa Diaz' }).click();
    const form = page.getByRole('form', { name: 'Save Rosa Diaz' });
    await form.getByLabel('Tags').fill('vip, wholesale, called');
    await form.getByRole('button', { name: 'Remove field birthday' }).click();
    await form.getByRole('button', { name: 'Save Rosa Diaz' }).click();
    await page.getByText('Rosa Diaz was saved.').waitFor();
    await row('Rosa Diaz').getByText('called').waitFor();
    expect(await row('Rosa Diaz').getByText('birthday').count()).toBe(0);
    const [saved] = (
      await started!.core.db.query('SELECT custom_fields, tags FROM contacts WHERE name = $1', ['Rosa Diaz'])
    ).map((r) => r);
    expect(saved).toEqual({ custom_fields: {}, tags: ['vip', 'wholesale', 'called'] });
  });

  it('deletes a contact after confirming', async () => {
    page.once('dialog', (dialog) => void dialog.accept());
    await row('Carla Cruz').getByRole('button', { name: 'Delete Carla Cruz' }).click();
    await page.getByText('Carla Cruz was deleted.').waitFor();
    await expect.poll(() => row('Carla Cruz').count()).toBe(0);
    await page.reload();
    await row('Rosa Diaz').waitFor();
    expect(await row('Carla Cruz').count()).toBe(0);
    await snap('04-after-delete');
  });
});
