/**
 * Installing an app from the marketplace, end to end: real Chromium, a real
 * Plaza server (web app, OAuth provider, database) and the SDK's example app
 * (sdk/examples/contact-viewer) on its own port and host name.
 *
 * Carla owns two accounts. On the app's marketplace page she clicks Install:
 * the browser goes to the app's install link (with plaza_url), the app sends
 * it to Plaza, she signs in on Plaza's page, chooses Corner Shop, approves on
 * the consent page, and the app shows Corner Shop's contacts. Her account's
 * installed-apps page lists the app with what it can do, who installed it,
 * when, which version. A new version asks for more access: the page says so,
 * Approve goes through the app and Plaza's consent page, and the installation
 * is upgraded in place. She uninstalls it, and the app's next call to Plaza
 * is refused.
 *
 * PLAZA_E2E_SCREENSHOTS=<folder> saves a screenshot of each step there.
 */
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { type ContactViewer, createContactViewer } from '../../sdk/examples/contact-viewer/app.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { account, type Person, person, publishVersion, registerApp, type TestApp } from '../helpers/world.ts';

let plaza: PlazaServer;
let viewerServer: Server;
let viewer: ContactViewer;
/** The example app as the browser reaches it: another host name than Plaza's, so each keeps its own cookies. */
let appUrl: string;
let app: TestApp;
let slug: string;
let carla: Person;
let shopId: string;
let browser: Browser | undefined;
let page: Page;
/** Paths the browser asked the example app for. */
const appRequests: string[] = [];

function startViewer(scopes: string[]): ContactViewer {
  const next = createContactViewer({
    plazaUrl: plaza.baseUrl,
    clientId: app.clientId,
    clientSecret: app.clientSecret,
    appUrl,
    scopes,
  });
  // A redeployed app keeps its installations.
  if (viewer)
    for (const [accountId, tokens] of viewer.installations) next.installations.set(accountId, tokens);
  return next;
}

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  plaza = await startPlazaServer();
  viewerServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    appRequests.push(req.url ?? '');
    viewer.handle(req, res);
  });
  await new Promise<void>((resolve) => viewerServer.listen(0, '127.0.0.1', resolve));
  appUrl = `http://localhost:${(viewerServer.address() as AddressInfo).port}`;

  // The developer's reviewed app: its install link is the example app's /install.
  app = await registerApp(plaza, {
    name: 'Contact Viewer',
    redirectUris: [`${appUrl}/callback`],
    scopes: [{ name: 'contacts:read' }],
    installUrl: `${appUrl}/install`,
  });
  slug = (await plaza.core.apps.get(app.developer, app.appId)).slug;
  viewer = startViewer(['contacts:read']);

  carla = await person(plaza, 'Carla Customer');
  const shop = await account(plaza, carla, 'Corner Shop');
  const other = await account(plaza, carla, 'Second Shop');
  shopId = shop.org.id;
  await plaza.core.contacts.create(shop, { name: 'Ada Lovelace', email: 'ada@example.com', tags: ['vip'] });
  await plaza.core.contacts.create(shop, { name: 'Grace Hopper', phone: '+15551234567' });
  await plaza.core.contacts.create(other, { name: 'Not In The Shop' });

  browser = await launchBrowser();
  const context = await browser.newContext({
    baseURL: plaza.baseUrl,
    viewport: { width: 1200, height: 900 },
  });
  context.setDefaultTimeout(15_000);
  page = await context.newPage();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  viewerServer?.closeAllConnections();
  await new Promise((resolve) => (viewerServer ? viewerServer.close(resolve) : resolve(undefined)));
  await plaza?.close();
});

async function snap(name: string): Promise<void> {
  const dir = process.env.PLAZA_E2E_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `install-${name}.png`), fullPage: true });
}

const installedCard = () =>
  page.getByRole('list', { name: 'Installed apps' }).getByRole('listitem', { name: 'Contact Viewer' });

describe('installing an app from the marketplace', () => {
  it('shows no Install button, with a short explanation, for an app without an install link', async () => {
    const linkless = await registerApp(plaza, {
      name: 'Linkless Sync',
      redirectUris: ['https://sync.example.com/cb'],
    });
    const linklessSlug = (await plaza.core.apps.get(linkless.developer, linkless.appId)).slug;
    await page.goto(`/marketplace/${linklessSlug}`);
    await page.getByRole('heading', { name: 'Linkless Sync', level: 1 }).waitFor();
    await page.getByText('Linkless Sync is not installed from the marketplace').waitFor();
    expect(await page.getByRole('link', { name: /^Install/ }).count()).toBe(0);
    await page.getByRole('link', { name: 'Ask the developer' }).waitFor();
  });

  it('Install → sign in → choose the account → consent → the app shows the account’s contacts', async () => {
    await page.goto(`/marketplace/${slug}`);
    await page.getByRole('heading', { name: 'Contact Viewer', level: 1 }).waitFor();
    const install = page.getByRole('link', { name: 'Install Contact Viewer' });
    const href = new URL((await install.getAttribute('href'))!);
    expect(`${href.origin}${href.pathname}`).toBe(`${appUrl}/install`);
    expect(href.searchParams.get('plaza_url')).toBe(plaza.baseUrl);
    await snap('01-marketplace');

    await install.click();
    // The app started the flow and the browser is on Plaza's sign-in page.
    await page.getByRole('heading', { name: 'Sign in to install Contact Viewer' }).waitFor();
    expect(appRequests.some((p) => p.startsWith('/install?plaza_url='))).toBe(true);
    expect(new URL(page.url()).origin).toBe(plaza.baseUrl);
    await page.getByLabel('Email').fill(carla.email);
    await page.getByLabel('Password').fill(carla.password);
    await page.getByRole('button', { name: 'Sign in' }).click();

    await page.getByRole('heading', { name: 'Install Contact Viewer in which account?' }).waitFor();
    await page.getByLabel('Corner Shop').check();
    await snap('02-choose-account');
    await page.getByRole('button', { name: 'Continue' }).click();

    await page.getByRole('heading', { name: 'Install Contact Viewer in Corner Shop?' }).waitFor();
    await page.getByText('It will be able to').waitFor();
    await page.getByText('See your contacts').first().waitFor();
    await snap('03-consent');
    await page.getByRole('button', { name: 'Install', exact: true }).click();

    // Back at the app, which exchanged the code and read the shop's contacts through the API.
    await page.getByRole('heading', { name: `Contacts of ${shopId}` }).waitFor();
    expect(new URL(page.url()).origin).toBe(appUrl);
    await page.getByRole('cell', { name: 'Ada Lovelace' }).waitFor();
    await page.getByRole('cell', { name: 'Grace Hopper' }).waitFor();
    expect(await page.getByText('Not In The Shop').count()).toBe(0);
    await snap('04-app-contacts');
    expect(viewer.installations.get(shopId)?.scopes).toEqual(['contacts:read']);
  });

  it('lists the app on the account’s installed-apps page', async () => {
    await page.goto(`/orgs/${shopId}/members`);
    await page.getByRole('navigation').getByRole('link', { name: 'Installed apps' }).click();
    await page.getByRole('heading', { name: 'Installed apps', level: 2 }).waitFor();
    const card = installedCard();
    await card.getByRole('link', { name: 'Contact Viewer' }).waitFor();
    await card.getByText(/Version 1 · Installed .* by Carla Customer/).waitFor();
    await card.getByText('contacts:read').waitFor();
    await card.getByText('Personal data').waitFor();
    expect(await card.getByText('This app asks for more access').count()).toBe(0);
    await snap('05-installed-apps');
  });

  it('asks for more access when a new version wants it, and upgrades in place once approved', async () => {
    // The developer ships version 2 (reviewed) asking to change contacts, and redeploys the app asking for it.
    await publishVersion(plaza, app, {
      scopes: [{ name: 'contacts:read' }, { name: 'contacts:write' }],
      installUrl: `${appUrl}/install`,
    });
    viewer = startViewer(['contacts:read', 'contacts:write']);
    const before = await plaza.core.installations.findActive(shopId, app.appId);

    await page.reload();
    const card = installedCard();
    const upgrade = card.getByRole('group', { name: 'Contact Viewer asks for more access' });
    await upgrade.getByText('Version 2 also wants to').waitFor();
    await upgrade.getByText('contacts:write').waitFor();
    await snap('06-asks-for-more');
    await upgrade.getByRole('link', { name: 'Approve…' }).click();

    // Through the app to Plaza: already signed in, so the account chooser (two accounts) then consent.
    await page.getByRole('heading', { name: 'Install Contact Viewer in which account?' }).waitFor();
    await page.getByLabel('Corner Shop').check();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Contact Viewer asks for more access' }).waitFor();
    await page.getByText('It can already').waitFor();
    await page.getByText('It now asks to').waitFor();
    await snap('07-upgrade-consent');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: `Contacts of ${shopId}` }).waitFor();
    expect(viewer.installations.get(shopId)?.scopes.sort()).toEqual(['contacts:read', 'contacts:write']);

    const after = await plaza.core.installations.findActive(shopId, app.appId);
    expect(after).toMatchObject({ id: before!.id, grantedScopes: ['contacts:read', 'contacts:write'] });
    await page.goto(`/orgs/${shopId}/installed-apps`);
    await installedCard().getByText('contacts:write').waitFor();
    await installedCard()
      .getByText(/Version 2 · Installed/)
      .waitFor();
    expect(await installedCard().getByText('This app asks for more access').count()).toBe(0);
    await snap('08-upgraded');
  });

  it('uninstalls: the app’s next call is refused', async () => {
    const tokens = viewer.installations.get(shopId)!;
    page.once('dialog', (dialog) => {
      expect(dialog.message()).toContain('Uninstall Contact Viewer from Corner Shop?');
      void dialog.accept();
    });
    await installedCard().getByRole('button', { name: 'Uninstall Contact Viewer' }).click();
    await page.getByText('Contact Viewer was uninstalled.').waitFor();
    await page.getByText('No apps are installed in Corner Shop yet.').waitFor();
    await snap('09-uninstalled');
    expect(await plaza.core.installations.isActive(shopId, app.appId)).toBe(false);

    // The token the app holds is refused by Plaza's API at once...
    const refused = await fetch(`${plaza.baseUrl}/v1/contacts`, {
      headers: { authorization: `Bearer ${tokens.accessToken}` },
    });
    expect(refused.status).toBe(401);
    // ...and so the app's next call fails (its refresh is refused too): the app says so.
    await page.goto(`${appUrl}/contacts?account=${shopId}`);
    await page.getByRole('heading', { name: 'Plaza said no' }).waitFor();
    await page.getByText('PLAZA_UNAUTHENTICATED').waitFor();
    await snap('10-app-refused');
    expect(viewer.installations.has(shopId)).toBe(false);
  });
});
