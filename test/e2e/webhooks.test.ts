/**
 * Webhooks in the developer console, in Chromium: Dev opens the app's
 * Webhooks tab, adds an endpoint (a real receiver on loopback) for
 * contact.created, sees its whsec_ secret once, sends a test event, opens the
 * endpoint and sees the delivered attempt with its status and the success
 * rate. Then Dev adds a second endpoint limited to Olive's installation (a
 * checkbox by account name) with a rate limit (a wrong installation id is
 * named next to the field), edits it, keeps an uninstalled account's id until
 * unchecking it, reveals its secret, replays the contact.created event it
 * missed (from before it existed) and finds the message in the log, also at
 * 390 px wide.
 * Then Olive, admin of an account that installed the app, mutes
 * contact.created for it on the installed-apps page.
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
import type { PlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  type Receiver,
  receiver,
  startWebhooksPlaza,
  verifyWith,
  type WebhookApp,
  webhookApp,
} from '../helpers/webhooks.ts';
import { account, installApp, type Person, person } from '../helpers/world.ts';

let plaza: PlazaServer;
let app: WebhookApp;
let olive: Person;
let shop: OrgContext;
let cafe: OrgContext;
let hooks: Receiver;
let browser: Browser | undefined;
let installationId = '';
let cafeInstallationId = '';
const pageErrors: string[] = [];

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  plaza = await startWebhooksPlaza();
  app = await webhookApp(plaza, 'Hook Reader', ['contacts:read']);
  olive = await person(plaza, 'Olive Owner');
  shop = await account(plaza, olive, 'Corner Bakery');
  installationId = (await installApp(plaza, app, shop.org.id, ['contacts:read'])).id;
  cafe = await account(plaza, olive, 'Harbor Cafe');
  cafeInstallationId = (await installApp(plaza, app, cafe.org.id, ['contacts:read'])).id;
  hooks = await receiver();
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await plaza?.close();
  await hooks?.close();
});

async function signedIn(who: Person): Promise<Page> {
  const context = await browser!.newContext({
    baseURL: plaza.baseUrl,
    viewport: { width: 1200, height: 900 },
  });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
  await page.request.post('/v1/auth/login', { data: { email: who.email, password: who.password } });
  return page;
}

/** A datetime-local input's value (local time, to the second) for a moment. */
function localInput(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** True when the page is no wider than its viewport (nothing to scroll sideways). */
const fitsWidth = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

async function snap(page: Page, name: string): Promise<void> {
  const dir = process.env.PLAZA_E2E_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `webhooks-${name}.png`), fullPage: true });
}

describe('webhooks in the web app', () => {
  it('creates an endpoint, shows the secret once, sends a test event and shows the attempt', async () => {
    const page = await signedIn(app.developerPerson);
    await page.goto(`/orgs/${app.developer.org.id}/apps/${app.appId}`);
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('heading', { name: 'Webhook endpoints' }).waitFor();
    await page.getByText('No endpoints yet.').waitFor();

    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const form = page.getByRole('form', { name: 'New webhook endpoint' });
    await form.getByLabel('Endpoint URL').fill(hooks.url);
    await form.getByLabel('Description').fill('Local receiver');
    await form.getByRole('checkbox', { name: /contact\.created/ }).check();
    await form.getByRole('button', { name: 'Create endpoint' }).click();

    const secretBox = page.getByRole('textbox', { name: 'Signing secret', exact: true });
    await secretBox.waitFor();
    const secret = await secretBox.inputValue();
    expect(secret).toMatch(/^whsec_/);
    const row = page
      .getByRole('table', { name: 'Webhook endpoints' })
      .getByRole('row')
      .filter({ hasText: hooks.url });
    await row.getByText('contact.created').waitFor();
    await row.getByText('No deliveries yet').waitFor();
    await snap(page, '01-created');
    await page.getByRole('button', { name: 'I have stored it, hide it' }).click();
    expect(await page.getByRole('textbox', { name: 'Signing secret', exact: true }).count()).toBe(0);

    await row.getByRole('button', { name: `Send a test event to ${hooks.url}` }).click();
    await page.getByText('A webhook.test message was sent').waitFor();
    const delivered = await waitFor('the test event', () => hooks.of('webhook.test')[0]);
    // The secret the page showed verifies what the receiver got.
    expect(verifyWith(secret, delivered)).toMatchObject({ type: 'webhook.test' });

    await row.getByRole('link', { name: hooks.url }).click();
    await page.getByRole('heading', { name: hooks.url }).waitFor();
    const attemptsTable = page.getByRole('table', { name: 'Attempts' });
    // The attempt is recorded just after the receiver answers: refresh until it shows.
    await waitFor('the attempt row', async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      return (await attemptsTable.getByText('200 OK').count()) > 0;
    });
    await page.getByTestId('success-rate').getByText(/^100%/).waitFor();
    await snap(page, '02-endpoint');

    // Failed messages filter (dead letters): nothing failed.
    await page.getByRole('link', { name: 'Webhooks' }).first().click();
    const filter = page.getByRole('form', { name: 'Filter messages' });
    await filter.getByLabel('State').selectOption('failed');
    await filter.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('No messages match.').waitFor();
    await filter.getByLabel('State').selectOption('delivered');
    await filter.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('table', { name: 'Webhook messages' }).getByText('webhook.test').waitFor();
    await page.getByRole('button', { name: /^Details of message / }).click();
    const detail = page.getByRole('region', { name: /^Message / });
    await detail.getByText('"type": "webhook.test"').waitFor();
    await detail
      .getByRole('list', { name: 'Attempts of the message' })
      .getByText(/200 OK/)
      .waitFor();
    expect(pageErrors).toEqual([]);
  });

  it('limits an endpoint to an installation with a rate limit, reveals its secret and replays what it missed', async () => {
    // An event from before the endpoint exists: the first test's endpoint receives it (so its fan-out is
    // done), the new one never does.
    const since = new Date(Date.now() - 2000);
    const contact = await plaza.core.contacts.create(shop, { name: 'Early Bird' });
    await waitFor('the first endpoint got the event', () =>
      hooks.of('contact.created').some((m) => m.json.data.contact.id === contact.id),
    );
    const late = await receiver();
    try {
      const page = await signedIn(app.developerPerson);
      await page.goto(`/orgs/${app.developer.org.id}/apps/${app.appId}/webhooks`);
      await page.getByRole('button', { name: 'Add endpoint' }).click();
      const form = page.getByRole('form', { name: 'New webhook endpoint' });
      await form.getByLabel('Endpoint URL').fill(late.url);
      await form.getByRole('checkbox', { name: /contact\.created/ }).check();
      const installations = form.getByRole('group', { name: 'Installations' });
      await installations.getByText('All installations (app-wide)').waitFor();
      const bakery = installations.getByRole('checkbox', { name: /Corner Bakery/ });
      await bakery.check();
      await installations.getByText(installationId).waitFor();
      expect(await installations.getByRole('checkbox', { name: /Harbor Cafe/ }).isChecked()).toBe(false);
      await form.getByLabel('Rate limit (messages per second)').fill('5');
      // The checklist only offers the app's installations: a wrong id can only come from elsewhere (a stale
      // page, a bug), so add one to the request the page sends, once.
      await page.route(
        (url) => url.pathname.endsWith('/webhook-endpoints'),
        async (route) => {
          const body = route.request().postDataJSON();
          const installationIds = [...body.installationIds, 'inst_nowhere'];
          await route.continue({ postData: JSON.stringify({ ...body, installationIds }) });
        },
        { times: 1 },
      );
      await form.getByRole('button', { name: 'Create endpoint' }).click();
      // The server's answer names the wrong id under the field.
      await installations.getByText('inst_nowhere is not an installation of this app').waitFor();
      // ... and the group of checkboxes is described by it (screen readers read it with the group).
      const description = await installations.evaluate((el) =>
        (el.getAttribute('aria-describedby') ?? '')
          .split(' ')
          .map((id) => document.getElementById(id)?.textContent ?? '')
          .join(' '),
      );
      expect(description).toContain('inst_nowhere is not an installation of this app');
      expect(await bakery.isChecked()).toBe(true);
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await fitsWidth(page)).toBe(true);
      await snap(page, '03-create-390');
      await page.setViewportSize({ width: 1200, height: 900 });

      await form.getByRole('button', { name: 'Create endpoint' }).click();
      const secret = await page.getByRole('textbox', { name: 'Signing secret', exact: true }).inputValue();
      expect(secret).toMatch(/^whsec_/);
      await page.getByRole('button', { name: 'I have stored it, hide it' }).click();
      const row = page
        .getByRole('table', { name: 'Webhook endpoints' })
        .getByRole('row')
        .filter({ hasText: late.url });
      await row.getByText('1 installation only · 5 messages/s at most').waitFor();

      await row.getByRole('link', { name: late.url }).click();
      await page.getByRole('heading', { name: late.url }).waitFor();
      const shown = page.getByTestId('endpoint-installations');
      await shown.getByText('Corner Bakery').waitFor();
      await shown.getByText(installationId).waitFor();
      await page.getByTestId('endpoint-rate-limit').getByText('5 messages per second').waitFor();

      await page.getByRole('button', { name: 'Edit', exact: true }).click();
      const edit = page.getByRole('form', { name: 'Edit the endpoint' });
      expect(await edit.getByRole('checkbox', { name: /Corner Bakery/ }).isChecked()).toBe(true);
      await edit.getByRole('checkbox', { name: /Harbor Cafe/ }).check();
      await edit.getByLabel('Rate limit (messages per second)').fill('20');
      await edit.getByRole('button', { name: 'Save' }).click();
      await page.getByText('The endpoint was saved.').waitFor();
      await page.getByTestId('endpoint-rate-limit').getByText('20 messages per second').waitFor();
      await shown.getByText('Harbor Cafe').waitFor();

      // Harbor Cafe uninstalls the app: its id stays on the endpoint, and in the form, until Dev unchecks it.
      await plaza.core.oauth.uninstallInstallation(
        { accountId: cafe.org.id, appId: app.appId },
        olive.actor,
        'uninstalled_by_account',
      );
      await page.reload();
      await shown.getByText('(no longer installed)').waitFor();
      await shown.getByText(cafeInstallationId).waitFor();
      await page.getByRole('button', { name: 'Edit', exact: true }).click();
      const gone = edit.getByRole('checkbox', { name: `${cafeInstallationId} (no longer installed)` });
      expect(await gone.isChecked()).toBe(true);
      await snap(page, '03b-edit-uninstalled');
      expect(await edit.getByRole('checkbox', { name: /Harbor Cafe/ }).count()).toBe(0);
      await edit.getByRole('button', { name: 'Save' }).click();
      await page.getByText('The endpoint was saved.').waitFor();
      await shown.getByText(cafeInstallationId).waitFor();
      await page.getByRole('button', { name: 'Edit', exact: true }).click();
      await gone.uncheck();
      await edit.getByRole('button', { name: 'Save' }).click();
      await waitFor(
        'the uninstalled id dropped',
        async () => (await shown.getByText(cafeInstallationId).count()) === 0,
      );
      await shown.getByText('Corner Bakery').waitFor();

      await page.getByRole('button', { name: 'Reveal secret' }).click();
      expect(await page.getByRole('textbox', { name: 'Current signing secret' }).inputValue()).toBe(secret);

      const missing = page.getByRole('form', { name: 'Replay missing events' });
      await missing.getByLabel('Events since').fill(localInput(since));
      await missing.getByLabel('Until (optional)').fill(localInput(new Date(since.getTime() - 60_000)));
      await missing.getByRole('button', { name: 'Replay missing' }).click();
      await missing.getByText('must be after since').waitFor();
      await missing.getByLabel('Until (optional)').fill('');
      await missing.getByRole('button', { name: 'Replay missing' }).click();
      await page.getByText('1 message created for the events this endpoint never got.').waitFor();
      const replayed = await waitFor('the replayed event', () => late.of('contact.created')[0]);
      // The revealed secret verifies it; it is the event from before the endpoint existed.
      expect(verifyWith(secret, replayed)).toMatchObject({ data: { contact: { id: contact.id } } });
      await page.setViewportSize({ width: 390, height: 844 });
      expect(await fitsWidth(page)).toBe(true);
      await snap(page, '04-endpoint-390');

      await page.getByRole('link', { name: 'Messages', exact: true }).click();
      const log = page.getByRole('table', { name: 'Webhook messages' });
      await log.getByText('contact.created').waitFor();
      // Only this endpoint's messages: the replayed one.
      expect(await log.getByRole('row').count()).toBe(2);
      await log.getByRole('row').filter({ hasText: late.url }).waitFor();
      expect(await fitsWidth(page)).toBe(true);
      await snap(page, '05-messages-390');
      expect(pageErrors).toEqual([]);
    } finally {
      await late.close();
    }
  });

  it('lets an account admin mute an event type for an installed app', async () => {
    const page = await signedIn(olive);
    await page.goto(`/orgs/${shop.org.id}/installed-apps`);
    await page.getByRole('button', { name: 'Mute events from Hook Reader' }).click();
    const form = page.getByRole('form', { name: 'Events sent to Hook Reader' });
    await form.getByRole('checkbox', { name: /contact\.created/ }).check();
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/Hook Reader no longer receives 1 event type/).waitFor();
    const res = await plaza.http
      .get(`/v1/organizations/${shop.org.id}/installations/${installationId}/webhook-mutes`)
      .set('cookie', (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; '))
      .expect(200);
    expect(res.body.muted).toEqual(['contact.created']);
    expect(pageErrors).toEqual([]);
  });
});
