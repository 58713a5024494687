/**
 * The app registry end to end: real Chromium, real Plaza server, real database.
 *
 * Dana signs up, creates a developer organization and an app (its client
 * secret is shown once), writes the listing, uploads an icon, asks for a scope
 * with a justification, subscribes to the privacy webhooks and sets a monthly
 * price. A first submission comes back from the automated checks (no
 * screenshot yet) with the reason; after a screenshot is uploaded the second
 * one passes and Dana sees the queue position, target date and median. Rex, a
 * platform reviewer (made by the test setup, as an operator would), finds the
 * version in the queue, claims it, ticks the checklist and approves. Dana gets
 * a notification that the app is live, and a visitor who is not signed in
 * finds the app by searching the marketplace and opens its page, also at
 * phone width.
 *
 * PLAZA_E2E_SCREENSHOTS=<folder> saves a screenshot of each step there.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import type { Core } from '../../server/core.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';

const PASSWORD = 'correct horse battery staple';
const run = randomBytes(3).toString('hex');
const dana = { name: 'Dana Developer', email: `dana-${run}@example.test` };
const rex = { name: 'Rex Reviewer', email: `rex-${run}@example.test` };
const ORG = `Tidewater Labs ${run}`;
// A made-up word in the name, so the marketplace search finds exactly this app.
const WORD = `Quillsync${run}`;
const APP = `${WORD} Contacts`;
const SLUG = `quillsync-${run}`;
const DESCRIPTION = [
  `## Contacts, in step`,
  '',
  `${WORD} keeps your contacts and your mailing lists in step, both ways, every few minutes.`,
  'Unsubscribes flow back, duplicates are merged, and **nothing** is deleted without asking first.',
  '',
  '<script>alert("not rendered")</script>',
].join('\n');

let baseUrl = '';
let plaza: PlazaServer | undefined;
let core: Core | undefined;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];

async function newPage(viewport = { width: 1200, height: 900 }): Promise<Page> {
  const context = await browser!.newContext({ baseURL: baseUrl, viewport });
  context.setDefaultTimeout(10_000);
  contexts.push(context);
  const page = await context.newPage();
  // Anything the page logs as an error (a failed render, a CSP refusal) fails the step that caused it.
  page.on('console', (msg) => {
    // A visitor who is not signed in gets a 401 from /v1/me: that is how the app learns it.
    if (msg.type() === 'error' && !msg.text().includes('status of 401'))
      pageErrors.push(`${page.url()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  return page;
}
const pageErrors: string[] = [];

beforeEach((ctx) => {
  pageErrors.length = 0;
  ctx.onTestFailed(async () => {
    for (const [i, context] of contexts.entries()) {
      for (const page of context.pages()) {
        const file = path.join(os.tmpdir(), `plaza-e2e-registry-${run}-${i}.png`);
        await page.screenshot({ path: file, fullPage: true }).catch(() => {});
        console.error(`e2e screenshot: ${file} (at ${page.url()})`);
      }
    }
  });
});

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  // Listening first, so the public URL (used in email links) carries the real port.
  plaza = await startPlazaServer({ env: { PLAZA_DEV_MAILBOX: 'true' } });
  baseUrl = plaza.baseUrl;
  core = plaza.core;

  // Test setup, not behaviour under test: reviewers are people an operator gives the platform role.
  await core.identity.createUser(core.db, { ...rex, password: PASSWORD, platformRole: 'reviewer' });

  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
  await plaza?.close();
});

async function snap(page: Page, name: string): Promise<void> {
  const dir = process.env.PLAZA_E2E_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

/** A real RGB PNG drawn pixel by pixel (every viewer opens it). */
function png(
  width: number,
  height: number,
  pixel: (x: number, y: number) => [number, number, number],
): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) raw.set(pixel(x, y), row + 1 + x * 3);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A 128×128 icon: a teal rounded tile with a white ring. */
const ICON = png(128, 128, (x, y) => {
  const d = Math.hypot(x - 64, y - 64);
  return d > 30 && d < 42 ? [255, 255, 255] : [18, 140, 126];
});
/** A 640×400 screenshot: a window with a header bar and a few list rows. */
const SCREENSHOT = png(640, 400, (x, y) => {
  if (y < 48) return [59, 63, 216];
  if (x < 160) return [236, 237, 253];
  if (y > 80 && (y - 80) % 56 < 36 && x > 190 && x < 600)
    return (y - 80) % 56 < 12 ? [200, 204, 214] : [246, 247, 249];
  return [255, 255, 255];
});

/** Elements that stick out past the right edge of the viewport (nothing should at phone width). */
const sticking = (page: Page) =>
  page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    return [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > width + 1)
      .filter((el) => !el.closest('.table-wrap, .shots, .subnav, .orgnav-row, .visually-hidden'))
      .slice(0, 5)
      .map(
        (el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')}: ${el.textContent?.slice(0, 40)}`,
      );
  });

const row = (page: Page, text: string | RegExp) => page.getByRole('row').filter({ hasText: text });
const nav = (page: Page, name: string) =>
  page
    .getByRole('navigation', { name: /sections/ })
    .first()
    .getByRole('link', { name, exact: true });
const appNav = (page: Page, name: string) =>
  page.getByRole('navigation', { name: `${APP} sections` }).getByRole('link', { name, exact: true });

describe('app registry in the browser', () => {
  let devPage: Page;
  let reviewerPage: Page;

  it('a developer signs up, creates a developer organization and an app, and sees the client secret once', async () => {
    devPage = await newPage();
    const page = devPage;
    await page.goto('/signup');
    await page.getByLabel('Name', { exact: true }).fill(dana.name);
    await page.getByLabel('Email', { exact: true }).fill(dana.email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('link', { name: 'Create your first organization' }).click();
    await page.getByLabel('Organization name').fill(ORG);
    await page.getByRole('radio', { name: /Developer/ }).check();
    await page.getByRole('button', { name: 'Create organization' }).click();
    await page.getByRole('heading', { level: 1, name: ORG }).waitFor();

    await nav(page, 'Apps').click();
    await page.getByText('No apps yet').waitFor();
    await page.getByRole('link', { name: 'Create your first app' }).click();
    await page.getByLabel('App name').fill(APP);
    // The address follows the name until it is edited.
    expect(await page.getByLabel('Address (slug)').inputValue()).toBe(`quillsync${run}-contacts`);
    await page.getByLabel('Address (slug)').fill('login');
    await page.getByLabel('Tagline').fill('Two-way contact sync with your mailing lists');
    await page.getByLabel('Category').selectOption('crm');
    await page.getByLabel('Support URL').fill('https://example.com/support');
    await page.getByLabel('Privacy policy URL').fill('https://example.com/privacy');
    await page.getByRole('button', { name: 'Create app' }).click();
    // The API's problem+json names the field; the form shows it next to the input.
    const slugInput = page.getByLabel('Address (slug)');
    await page.getByRole('alert').getByText(/slug/).waitFor();
    expect(await slugInput.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('.field-error').first().textContent()).toContain('reserved');
    await snap(page, 'r01-new-app-error');

    await slugInput.fill(SLUG);
    await page.getByRole('button', { name: 'Create app' }).click();
    const box = page.getByRole('region', { name: /copy its client secret now/ });
    await box.waitFor();
    const secret = await box.getByLabel('Client secret').inputValue();
    expect(secret).toMatch(/^plz_cs_/);
    expect(await box.textContent()).toMatch(/Client ID\s*cl_/);
    await snap(page, 'r02-app-created-secret');

    // Shown once: after a reload it is gone, and the credentials page shows only its first characters.
    await page.reload();
    await page.getByRole('heading', { name: /where it stands/ }).waitFor();
    expect(await page.getByRole('region', { name: /client secret/ }).count()).toBe(0);
    await appNav(page, 'Credentials').click();
    await page.getByTestId('client-id').waitFor();
    expect(await page.content()).not.toContain(secret);
    expect(await page.locator('table').textContent()).toContain(secret.slice(0, 14));
  });

  it('writes the listing and uploads an icon, seeing a preview before sending it', async () => {
    const page = devPage;
    await appNav(page, 'Listing').click();
    await page.getByLabel('Description (Markdown)').fill(DESCRIPTION);
    await page.getByRole('button', { name: 'Save listing' }).click();
    await page.getByRole('status').getByText('Listing saved.').waitFor();
    // The saved description is rendered by the server: Markdown yes, raw HTML no.
    const preview = page.getByRole('region', { name: /Description preview/ });
    await preview.getByRole('heading', { name: 'Contacts, in step' }).waitFor();
    expect(await preview.locator('script').count()).toBe(0);
    expect(await preview.textContent()).toContain('<script>');

    await page
      .getByLabel('Upload an icon')
      .setInputFiles({ name: 'icon.png', mimeType: 'image/png', buffer: ICON });
    const localPreview = page.getByRole('img', { name: 'Preview of icon.png' });
    await localPreview.waitFor();
    await page.getByText('128×128 px').waitFor();
    await snap(page, 'r03-icon-preview');
    await page.getByRole('button', { name: 'Upload icon' }).click();
    await page.getByRole('status').getByText('Icon uploaded.').waitFor();
    const icon = page.getByRole('img', { name: 'Current icon' });
    await icon.waitFor();
    // The stored image is served back and decodes.
    expect(await icon.evaluate(loadedWidth)).toBe(128);
  });

  it('sets redirect URIs, a justified scope, the privacy webhooks and a monthly price', async () => {
    const page = devPage;
    await appNav(page, 'Access & pricing').click();
    await page.getByLabel('Redirect URI 1', { exact: true }).fill('http://example.com/oauth/callback');
    await page.getByRole('checkbox', { name: /^contacts:read/ }).check();
    await page
      .getByLabel('Why does the app need contacts:read?')
      .fill('We copy your contacts to your mailing lists.');
    await page.getByRole('button', { name: 'Add webhook event' }).click();
    await page.getByLabel('Webhook event 1', { exact: true }).fill('app.data_request');
    await page.getByRole('button', { name: 'Add webhook event' }).click();
    await page.getByLabel('Webhook event 2', { exact: true }).fill('app.data_erasure');
    await page.getByRole('radio', { name: /Subscription/ }).check();
    await page.getByLabel('Price (USD)').fill('9');
    await page.getByText('Customers will see: $9.00 a month.').waitFor();

    // Plain http outside localhost is refused by the API, and the error lands on that URI.
    await page.getByRole('button', { name: 'Save access and pricing' }).click();
    await page.getByRole('alert').first().waitFor();
    expect(await page.getByLabel('Redirect URI 1', { exact: true }).getAttribute('aria-invalid')).toBe(
      'true',
    );
    expect(await page.getByRole('alert').first().textContent()).toContain('redirectUris.0');
    await snap(page, 'r04-version-error');

    await page.getByLabel('Redirect URI 1', { exact: true }).fill('https://example.com/oauth/callback');
    await page.getByRole('button', { name: 'Save access and pricing' }).click();
    await page.getByRole('status').getByText('Access and pricing saved.').waitFor();
    await snap(page, 'r05-version-saved');

    // Saved as integer minor units: the form reads them back as 9.00.
    await page.reload();
    expect(await page.getByLabel('Price (USD)').inputValue()).toBe('9.00');
    expect(await page.getByRole('checkbox', { name: /^contacts:read/ }).isChecked()).toBe(true);
  });

  it('is sent back by the automated checks without a screenshot, with the reason', async () => {
    const page = devPage;
    await appNav(page, 'Status').click();
    await page.getByRole('button', { name: 'Submit version 1 for review' }).click();
    // The checks run as a job; the page follows them and lands back on a draft.
    await page.getByText('The automated checks sent this version back').waitFor();
    const checks = page.getByRole('list', { name: 'Automated check results' });
    const failed = checks.getByRole('listitem').filter({ hasText: 'Failed:' });
    expect(await failed.count()).toBe(1);
    expect(await failed.textContent()).toContain('upload at least one screenshot');
    await snap(page, 'r06-checks-failed');
  });

  it('uploads a screenshot, submits again and sees the queue position, target and median', async () => {
    const page = devPage;
    await appNav(page, 'Listing').click();
    await page
      .getByLabel('Add a screenshot')
      .setInputFiles({ name: 'screen.png', mimeType: 'image/png', buffer: SCREENSHOT });
    await page.getByRole('img', { name: 'Preview of screen.png' }).waitFor();
    await page.getByRole('button', { name: 'Upload screenshot' }).click();
    await page.getByRole('status').getByText('Screenshot added.').waitFor();
    await page.getByRole('img', { name: 'Screenshot 1' }).waitFor();
    await snap(page, 'r07-listing');

    // The diff against the live version: there is none, so this is a first version with a full review.
    await appNav(page, 'Changes').click();
    await page.getByText('This is the first version of the app').waitFor();
    await page.getByText('Full review').first().waitFor();
    await page.getByRole('region', { name: 'Scope changes' }).getByText('contacts:read').waitFor();

    await appNav(page, 'Status').click();
    await page.getByRole('button', { name: 'Submit version 1 for review' }).click();
    const position = page.getByTestId('queue-position');
    await position.waitFor();
    expect(await position.textContent()).toContain('1st of 1');
    await page.getByText(/we aim to review within \d+ business days/).waitFor();
    await page.getByText('No reviews decided in the last 30 days').waitFor();
    expect(
      await page.getByRole('list', { name: 'Automated check results' }).getByText('Failed:').count(),
    ).toBe(0);
    await snap(page, 'r08-queued');
  });

  it('a reviewer claims the version and asks for changes with a note on the description', async () => {
    reviewerPage = await newPage();
    const page = reviewerPage;
    await page.goto('/login');
    await page.getByLabel('Email', { exact: true }).fill(rex.email);
    await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('banner').getByRole('link', { name: 'Review queue' }).click();
    const item = row(page, APP);
    await item.waitFor();
    expect(await item.textContent()).toMatch(/full review/i);
    await snap(page, 'r09-review-queue');

    await item.getByRole('link', { name: `${APP} · version 1` }).click();
    await page.getByRole('heading', { level: 1, name: new RegExp(APP) }).waitFor();
    // Before claiming, nothing can be decided.
    expect(await page.getByRole('button', { name: 'Approve and publish' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Claim for review' }).click();
    await page.getByText('You are reviewing this version').waitFor();
    // The reviewer sees what the checks found, the diff and the justification of each scope.
    const checks = page.getByRole('list', { name: 'Automated check results' });
    expect(await checks.getByText('Passed:').count()).toBe(await checks.getByRole('listitem').count());
    await page.getByText('This is the first version of the app').waitFor();
    await page.getByText('We copy your contacts to your mailing lists.').first().waitFor();

    await page.getByRole('button', { name: 'Add a note' }).click();
    await page.getByLabel('Note 1 is about').selectOption('description');
    await page
      .getByLabel('Note 1', { exact: true })
      .fill('Say which mailing list services the app works with.');
    await snap(page, 'r10-review-page');
    await page.getByRole('button', { name: 'Request changes' }).click();
    await page
      .getByRole('status')
      .getByText(/Changes requested/)
      .waitFor();
    await page.getByText('This submission is').waitFor();
  });

  it('the developer reads the note, fixes the description through the manifest and submits again', async () => {
    const page = devPage;
    await page.reload();
    await page.getByText('The reviewer asked for changes').waitFor();
    await page.getByText('Description: Say which mailing list services the app works with.').waitFor();
    await snap(page, 'r11-changes-requested');

    // Export: the manifest downloads as JSON naming the app.
    await appNav(page, 'Manifest').click();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download manifest' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(`${SLUG}.plaza.json`);
    const manifest = JSON.parse(readFileSync((await download.path())!, 'utf8'));
    expect(manifest.slug).toBe(SLUG);
    expect(manifest.version.scopes[0].name).toBe('contacts:read');

    // Import: a mistake comes back naming the field inside the manifest.
    const text = page.getByLabel('Or paste the manifest JSON');
    const broken = structuredClone(manifest);
    broken.version.scopes[0].name = 'contacts:peek';
    await text.fill(JSON.stringify(broken, null, 2));
    await page.getByRole('button', { name: 'Import manifest' }).click();
    await page.getByRole('alert').getByText('version.scopes.0.name').waitFor();
    await snap(page, 'r12-manifest-error');

    manifest.version.description += '\n\nWorks with Mailchimp, Brevo and Buttondown.';
    await text.fill(JSON.stringify(manifest, null, 2));
    await page.getByRole('button', { name: 'Import manifest' }).click();
    await page.getByRole('status').getByText('Manifest imported into version 1.').waitFor();

    await appNav(page, 'Status').click();
    await page.getByRole('button', { name: 'Submit version 1 for review' }).click();
    await page.getByTestId('queue-position').waitFor();
    expect(await page.getByTestId('queue-position').textContent()).toContain('1st of 1');
  });

  it('the reviewer claims it again, ticks the checklist and approves it', async () => {
    const page = reviewerPage;
    await page.getByRole('banner').getByRole('link', { name: 'Review queue' }).click();
    await row(page, APP)
      .getByRole('link', { name: `${APP} · version 1` })
      .click();
    await page.getByRole('button', { name: 'Claim for review' }).click();
    await page.getByText('You are reviewing this version').waitFor();
    // The earlier decision is on the page, and the new description with it.
    await page
      .getByRole('region', { name: 'Earlier decisions on this app' })
      .getByText(/mailing list services/)
      .waitFor();
    await page.getByText('Works with Mailchimp, Brevo and Buttondown.').first().waitFor();

    const boxes = page.getByRole('form', { name: 'Decision' }).getByRole('checkbox');
    expect(await boxes.count()).toBeGreaterThan(3);
    for (const box of await boxes.all()) await box.check();
    await page.getByRole('button', { name: 'Approve and publish' }).click();
    await page
      .getByRole('status')
      .getByText(/Approved/)
      .waitFor();
    await page.getByText('This submission is').waitFor();
    // The decision keeps the ticked checklist, and nothing can be decided any more.
    expect(await boxes.evaluateAll((els) => els.every((el) => (el as HTMLInputElement).checked))).toBe(true);
    expect(await page.getByRole('button', { name: 'Approve and publish' }).isDisabled()).toBe(true);
    await snap(page, 'r13-approved');
  });

  it('tells the developer, whose app is now live', async () => {
    const page = devPage;
    await page.goto('/');
    // Three notes: the checks sent version 1 back, the reviewer asked for changes, then approved it.
    const bell = page.getByRole('link', { name: 'Notifications, 3 unread' });
    await bell.waitFor();
    await bell.click();
    await page.getByRole('listitem').filter({ hasText: 'did not pass the automated checks' }).waitFor();
    await page
      .getByRole('listitem')
      .filter({ hasText: `Changes requested for ${APP} version 1` })
      .waitFor();
    const note = page.getByRole('listitem').filter({ hasText: `${APP} version 1 is live` });
    await note.waitFor();
    await snap(page, 'r14-notifications');
    await note.getByRole('link').click();
    await page.getByRole('heading', { name: /where it stands/ }).waitFor();
    await page.getByText('Version 1 is live').waitFor();
    await page.getByRole('button', { name: 'Start version 2' }).waitFor();
    // Following the link read that one; "mark all as read" reads the rest.
    await page.getByRole('link', { name: 'Notifications, 2 unread' }).click();
    await page.getByRole('button', { name: 'Mark all as read' }).click();
    await page.getByRole('status').getByText('2 notifications marked read.').waitFor();
    await page.getByRole('link', { name: 'Notifications, none unread' }).waitFor();
  });

  it('shows the app in marketplace search and on its own page, to anyone', async () => {
    const page = await newPage();
    await page.goto('/');
    await page.getByRole('banner').getByRole('link', { name: 'Marketplace' }).click();
    await page.getByLabel('Search apps').fill(WORD.toLowerCase());
    await page.getByRole('button', { name: 'Search' }).click();
    const card = page.getByRole('list', { name: 'Apps' }).getByRole('listitem').filter({ hasText: APP });
    await card.waitFor();
    expect(new URL(page.url()).searchParams.get('q')).toBe(WORD.toLowerCase());
    expect(await card.textContent()).toContain('$9.00 / month');
    expect(await card.textContent()).toContain(ORG);
    expect(await page.getByRole('list', { name: 'Apps' }).getByRole('listitem').count()).toBe(1);
    await snap(page, 'r15-marketplace-search');

    // A filter that excludes it empties the result; clearing brings everything back.
    await page.getByLabel('Pricing').selectOption('free');
    await page.getByText('No apps found').waitFor();
    await page.getByRole('button', { name: 'Clear search and filters' }).click();
    await card.waitFor();

    await card.getByRole('link', { name: APP }).click();
    await page.getByRole('heading', { level: 1, name: APP }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/marketplace/${SLUG}`);
    await page.getByRole('heading', { name: 'Contacts, in step' }).waitFor();
    expect(await page.locator('.prose script').count()).toBe(0);
    await page.getByText('See your contacts and their details').waitFor();
    await page.getByText('$9.00 a month.').waitFor();
    const shot = page.getByRole('img', { name: `Screenshot 1 of ${APP}` });
    expect(await shot.evaluate(loadedWidth)).toBe(640);
    await page.getByText('No reviews yet').waitFor();
    await snap(page, 'r16-marketplace-app');
    expect(pageErrors).toEqual([]);
  });

  it('works at phone width', async () => {
    const page = await newPage({ width: 390, height: 844 });
    await page.goto(`/marketplace?q=${WORD.toLowerCase()}`);
    const card = page.getByRole('list', { name: 'Apps' }).getByRole('listitem').filter({ hasText: APP });
    await card.waitFor();
    await snap(page, 'r17-marketplace-phone');
    // Nothing sticks out sideways.
    expect(await sticking(page)).toEqual([]);
    await card.getByRole('link', { name: APP }).click();
    await page.getByRole('heading', { level: 1, name: APP }).waitFor();
    await page.getByRole('img', { name: `Screenshot 1 of ${APP}` }).waitFor();
    await snap(page, 'r18-app-phone');
    expect(await sticking(page)).toEqual([]);

    // The reviewer's page and the developer's status page at phone width too.
    await reviewerPage.setViewportSize({ width: 390, height: 844 });
    await reviewerPage.reload();
    await reviewerPage.getByRole('heading', { level: 1, name: new RegExp(APP) }).waitFor();
    await snap(reviewerPage, 'r19-review-phone');
    expect(await sticking(reviewerPage)).toEqual([]);

    // And the developer console: the apps list and the access & pricing editor.
    await devPage.setViewportSize({ width: 390, height: 844 });
    await nav(devPage, 'Apps').click();
    await row(devPage, APP).waitFor();
    expect(await row(devPage, APP).textContent()).toContain('Version 1');
    await snap(devPage, 'r20-apps-phone');
    expect(await sticking(devPage)).toEqual([]);
    await row(devPage, APP).getByRole('link', { name: APP }).click();
    await appNav(devPage, 'Access & pricing').click();
    await devPage.getByText('Version 1 is live and cannot be changed', { exact: false }).waitFor();
    await snap(devPage, 'r21-version-phone');
    expect(await sticking(devPage)).toEqual([]);
  });
});

/** The image's decoded width once it has loaded (0 if it fails): a busy machine may still be fetching it. */
function loadedWidth(img: HTMLImageElement): Promise<number> {
  if (img.complete) return Promise.resolve(img.naturalWidth);
  return new Promise((resolve) => {
    img.addEventListener('load', () => resolve(img.naturalWidth), { once: true });
    img.addEventListener('error', () => resolve(0), { once: true });
  });
}
