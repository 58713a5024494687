/**
 * The web shell end to end: real Chromium, real Plaza server, real database.
 *
 * Alice signs up, creates an organization and invites Bob by email; the
 * invitation link is read from the dev mailbox page (an operator's: Alice
 * is refused it); Bob (another browser context) signs up through the link,
 * verifies his email and accepts; Alice then sees Bob among
 * the members. Alice also creates an API key (secret shown once) and revokes
 * it, pages through the audit log, creates an agency with a sub-account,
 * switches organizations, logs out and signs back in.
 *
 * PLAZA_E2E_SCREENSHOTS=<folder> saves a screenshot of each step there.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { linkToken, mailTo } from '../helpers/email.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';

const PASSWORD = 'correct horse battery staple';
const run = randomBytes(3).toString('hex');
const alice = { name: 'Alice Owner', email: `alice-${run}@example.test` };
const bob = { name: 'Bob Builder', email: `bob-${run}@example.test` };
const ORG = `Acme Apps ${run}`;

let baseUrl = '';
let plaza: PlazaServer | undefined;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];

async function newPage(): Promise<Page> {
  const context = await browser!.newContext({ baseURL: baseUrl, viewport: { width: 1200, height: 900 } });
  context.setDefaultTimeout(10_000);
  contexts.push(context);
  return context.newPage();
}

// A failing step leaves screenshots of every open page behind, their paths printed with the failure.
beforeEach((ctx) => {
  ctx.onTestFailed(async () => {
    for (const [i, context] of contexts.entries()) {
      for (const page of context.pages()) {
        const file = path.join(os.tmpdir(), `plaza-e2e-${run}-${i}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => {});
        console.error(`e2e screenshot: ${file} (at ${page.url()})`);
      }
    }
  });
});

beforeAll(async () => {
  // Build web/dist when it is missing or older than a file under web/.
  await buildWeb({ ifStale: true, quiet: true });

  // Listening first, so the public URL (used in email links) carries the real port.
  plaza = await startPlazaServer({ env: { PLAZA_DEV_MAILBOX: 'true' } });
  baseUrl = plaza.baseUrl;

  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
  await plaza?.close();
});

/** With PLAZA_E2E_SCREENSHOTS=<folder>, saves a full-page screenshot of each step there (to look at the UI). */
async function snap(page: Page, name: string): Promise<void> {
  const dir = process.env.PLAZA_E2E_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

/** The table row that contains `text`. */
const row = (page: Page, text: string) => page.getByRole('row').filter({ hasText: text });

describe('web shell', () => {
  let alicePage: Page;
  let invitationLink = '';

  it('signs up, refusing a short password first', async () => {
    alicePage = await newPage();
    const page = alicePage;
    await page.goto('/');
    // Not signed in: the app sends us to the sign-in page.
    await page.getByRole('heading', { name: 'Sign in to Plaza' }).waitFor();
    await snap(page, '01-login');
    await page.getByRole('main').getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create your Plaza account' }).waitFor();

    await page.getByLabel('Name', { exact: true }).fill(alice.name);
    await page.getByLabel('Email', { exact: true }).fill(alice.email);
    await page.getByLabel('Password', { exact: true }).fill('too short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByText('Use at least 12 characters').waitFor();
    expect(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    await snap(page, '02-signup-error');

    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Your organizations' }).waitFor();
    await page.getByText('No organizations yet').waitFor();
    await snap(page, '03-home-empty');
    expect(await page.getByRole('button', { name: 'Log out' }).isVisible()).toBe(true);
  });

  it('creates an organization and lands on its members page', async () => {
    const page = alicePage;
    await page.getByRole('link', { name: 'Create your first organization' }).click();
    await page.getByLabel('Organization name').fill(ORG);
    await page.getByRole('radio', { name: /Developer/ }).check();
    await snap(page, '04-new-org');
    await page.getByRole('button', { name: 'Create organization' }).click();

    await page.getByRole('heading', { level: 1, name: ORG }).waitFor();
    expect(new URL(page.url()).pathname).toMatch(/^\/orgs\/[^/]+\/members$/);
    await row(page, alice.email).waitFor();
    expect(await row(page, alice.email).getByRole('combobox').inputValue()).toBe('owner');

    // The organization switcher now offers it, and remembers it as the current one.
    const switcher = page.getByLabel('Organization', { exact: true });
    expect(await switcher.locator('option:checked').textContent()).toContain(ORG);
    const orgId = new URL(page.url()).pathname.split('/')[2];
    expect(await page.evaluate(() => localStorage.getItem('plaza.currentOrg'))).toBe(orgId);

    await page.goto('/');
    const home = row(page, ORG);
    await home.waitFor();
    expect(await home.textContent()).toContain('Developer');
    expect(await home.textContent()).toContain('Owner');
    await snap(page, '05-home');
  });

  it('invites a member by email', async () => {
    const page = alicePage;
    await page
      .getByRole('navigation', { name: /sections/ })
      .getByRole('link', { name: 'Members' })
      .click();
    const form = page.getByRole('form', { name: 'Invite a member' });
    await form.getByLabel('Email', { exact: true }).fill(bob.email);
    await form.getByRole('combobox', { name: /^Role\b/ }).selectOption('member');
    await form.getByRole('button', { name: 'Send invitation' }).click();

    await page.getByRole('status').getByText(`Invitation sent to ${bob.email}`).waitFor();
    const pending = page.getByRole('table', { name: 'Pending invitations' });
    await pending.getByRole('row').filter({ hasText: bob.email }).waitFor();
    await snap(page, '06-members-invited');
  });

  it('shows the invitation email in the dev mailbox to platform admins only, with a clickable link', async () => {
    // Alice has no link to it, and the page tells her it is not for her.
    expect(await alicePage.getByRole('link', { name: 'Dev mailbox' }).count()).toBe(0);
    await alicePage.goto('/dev/mailbox');
    await alicePage.getByRole('heading', { name: 'For platform admins only' }).waitFor();

    const operator = { email: `operator-${run}@example.test`, password: PASSWORD };
    await plaza!.core.identity.createUser(plaza!.core.db, {
      name: 'Olivia Operator',
      platformRole: 'admin',
      ...operator,
    });
    const page = await newPage();
    await page.goto('/login');
    await page.getByLabel('Email', { exact: true }).fill(operator.email);
    await page.getByLabel('Password', { exact: true }).fill(operator.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your organizations' }).waitFor();
    await page.getByRole('link', { name: 'Dev mailbox' }).click();
    await page.getByRole('heading', { name: 'Dev mailbox' }).waitFor();
    await page.getByText('Only platform admins can read it').waitFor();

    // Emails go out through a job: refresh until it has been delivered.
    const email = page.getByRole('article').filter({ hasText: bob.email });
    const link = email.getByRole('link', { name: /\/invitations\// });
    for (let i = 0; i < 50 && (await link.count()) === 0; i++) {
      await page.waitForTimeout(200);
      await page.getByRole('button', { name: /Refresh/ }).click();
    }
    expect(await email.getByRole('heading').textContent()).toContain(ORG);
    invitationLink = (await link.getAttribute('href')) ?? '';
    expect(invitationLink.startsWith(`${baseUrl}/invitations/`)).toBe(true);
    await snap(page, '07-mailbox');
  });

  it('lets the invited person sign up from the link and accept', async () => {
    const page = await newPage();
    await page.goto(invitationLink);
    await page.getByRole('heading', { name: `Join ${ORG}` }).waitFor();
    const facts = await page.locator('dl.facts').textContent();
    expect(facts).toContain(bob.email);
    expect(facts).toContain('Member');
    await snap(page, '08-invitation');

    // A wrong password on sign-in shows the server's problem detail.
    await page.getByRole('main').getByRole('link', { name: 'Sign in' }).click();
    expect(await page.getByLabel('Email', { exact: true }).inputValue()).toBe(bob.email);
    await page.getByLabel('Password', { exact: true }).fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect((await alert.textContent())?.trim()).not.toBe('');
    await snap(page, '09-login-error');

    // No account yet: create one, which brings us back to the invitation.
    await page.getByRole('main').getByRole('link', { name: 'Create an account' }).click();
    expect(await page.getByLabel('Email', { exact: true }).inputValue()).toBe(bob.email);
    await page.getByLabel('Name', { exact: true }).fill(bob.name);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();

    // Not verified yet: the invitation waits for the link sent to Bob's address.
    await page.getByText(`Verify ${bob.email} before you accept`).waitFor();
    expect(await page.getByRole('button', { name: 'Accept invitation' }).count()).toBe(0);
    const verification = await mailTo(plaza!, bob.email, /verify/i);
    await page.goto(`/verify-email?token=${linkToken(verification, '/verify-email')}`);
    await page.getByText(`${bob.email} is verified`).waitFor();
    await snap(page, '09b-verified');
    await page.goto(invitationLink);

    await page.getByRole('button', { name: 'Accept invitation' }).click();
    await page.getByRole('heading', { level: 1, name: ORG }).waitFor();
    await row(page, bob.email).waitFor();
    expect(await row(page, bob.email).textContent()).toContain('Member');
    // A member cannot invite, so there is no invitation form.
    expect(await page.getByRole('form', { name: 'Invite a member' }).count()).toBe(0);
    await snap(page, '10-members-bob');
  });

  it('shows the new member to the owner', async () => {
    const page = alicePage;
    await page
      .getByRole('navigation', { name: /sections/ })
      .getByRole('link', { name: 'Members' })
      .click();
    const bobRow = row(page, bob.email);
    await bobRow.waitFor();
    expect(await bobRow.textContent()).toContain(bob.name);
    expect(await bobRow.getByRole('combobox', { name: `Role of ${bob.name}` }).inputValue()).toBe('member');
    await page.getByText('No pending invitations.').waitFor();
    await snap(page, '11-members-alice');
  });

  it('creates an API key whose secret is shown once, then revokes it', async () => {
    const page = alicePage;
    await page
      .getByRole('navigation', { name: /sections/ })
      .getByRole('link', { name: 'API keys' })
      .click();
    await page.getByLabel('Key name').fill('CI deploys');
    await page.getByLabel('Key role').selectOption('admin');
    await page.getByRole('button', { name: 'Create API key' }).click();

    const box = page.getByRole('region', { name: 'Copy your new API key now' });
    await box.waitFor();
    expect(await box.textContent()).toContain('only time');
    const secret = await box.getByLabel('New API key secret').inputValue();
    expect(secret.length).toBeGreaterThan(20);
    const keyRow = row(page, 'CI deploys');
    const prefix = (await keyRow.locator('code').textContent())?.replace('…', '') ?? '';
    expect(prefix.length).toBeGreaterThan(0);
    expect(secret.startsWith(prefix)).toBe(true);
    await snap(page, '12-api-key-secret');

    // Gone after a reload: the secret is never fetched again.
    await page.reload();
    await keyRow.waitFor();
    expect(await page.getByRole('region', { name: 'Copy your new API key now' }).count()).toBe(0);
    expect(await page.content()).not.toContain(secret);

    page.once('dialog', (dialog) => void dialog.accept());
    await keyRow.getByRole('button', { name: 'Revoke API key CI deploys' }).click();
    await keyRow.getByText(/Revoked/).waitFor();
    await snap(page, '13-api-keys-revoked');
  });

  it('records what happened in the audit log', async () => {
    const page = alicePage;
    await page
      .getByRole('navigation', { name: /sections/ })
      .getByRole('link', { name: 'Audit log' })
      .click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    const invited = row(page, 'member.invited');
    await invited.waitFor();
    expect(await invited.textContent()).toContain(alice.email);
    expect(await invited.textContent()).toContain('127.0.0.1');
    expect(await row(page, 'member.joined').textContent()).toContain(bob.email);
    expect(await row(page, 'api_key.created').count()).toBe(1);
    await snap(page, '14-audit');

    // Two at a time: "Load more" follows the cursor to the end, without repeating an entry.
    await page.goto(`${new URL(page.url()).pathname}?limit=2`);
    const body = page.getByRole('table').locator('tbody tr');
    await body.nth(1).waitFor();
    expect(await body.count()).toBe(2);
    const loadMore = page.getByRole('button', { name: 'Load more' });
    for (let shown = 2; await loadMore.isVisible(); shown += 2) {
      await loadMore.click();
      await body.nth(shown).waitFor();
    }
    await page.getByText('That is everything.').waitFor();
    const ids = await page.locator('code.target-id').allTextContents();
    expect(await body.count()).toBeGreaterThanOrEqual(5);
    expect(await row(page, 'member.invited').count()).toBe(1);
    expect(ids.length).toBe(await body.count());
  });

  it('creates an agency with a sub-account and switches organizations', async () => {
    const page = alicePage;
    await page.getByRole('banner').getByRole('link', { name: 'New organization' }).click();
    await page.getByLabel('Organization name').fill(`Agency ${run}`);
    await page.getByRole('radio', { name: /Agency/ }).check();
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.getByRole('heading', { level: 1, name: `Agency ${run}` }).waitFor();

    await page
      .getByRole('navigation', { name: /sections/ })
      .getByRole('link', { name: 'Sub-accounts' })
      .click();
    await page.getByLabel('Sub-account name').fill('Client One');
    await page.getByRole('button', { name: 'Create sub-account' }).click();
    await row(page, 'Client One').waitFor();
    await snap(page, '15-sub-accounts');

    // Switching to the developer org keeps the section where it exists (no sub-accounts there: members).
    const switcher = page.getByLabel('Organization', { exact: true });
    const acmeId = await switcher.locator('option', { hasText: ORG }).getAttribute('value');
    await switcher.selectOption(acmeId!);
    await page.getByRole('heading', { level: 1, name: ORG }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/orgs/${acmeId}/members`);
    expect(await page.evaluate(() => localStorage.getItem('plaza.currentOrg'))).toBe(acmeId);
    expect(
      await page
        .getByRole('navigation', { name: /sections/ })
        .getByText('Sub-accounts')
        .count(),
    ).toBe(0);

    // The choice survives a reload of the home page.
    await page.goto('/');
    await row(page, ORG).getByText('Current').waitFor();
  });

  it('logs out, and then asks to sign in again for organization pages', async () => {
    const page = alicePage;
    const membersPath = `/orgs/${await page.evaluate(() => localStorage.getItem('plaza.currentOrg'))}/members`;
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Plaza' }).waitFor();

    await page.goto(membersPath);
    await page.getByRole('heading', { name: 'Sign in to Plaza' }).waitFor();
    expect(new URL(page.url()).searchParams.get('next')).toBe(membersPath);
    // Signing in comes back to the page that was asked for.
    await page.getByLabel('Email', { exact: true }).fill(alice.email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: ORG }).waitFor();
    expect(new URL(page.url()).pathname).toBe(membersPath);
  });
});
