/**
 * White-label in Chromium. Ana, who runs Northwind (an agency), opens
 * Branding on the platform's host, names her brand, picks colours, uploads a
 * logo, publishes, and adds app.northwind.test: the page shows the DNS
 * records, she creates them (in the test's DNS stub) and checks; the domain
 * turns active. Sue, an admin of Northwind's sub-account Harbour Cafe, then
 * only uses app.northwind.test (Chromium maps it to the local server): she
 * signs in, walks every page of the web app she can reach, and installs an app
 * through the consent page. At 1280 and 390 px wide, every page shows
 * Northwind's name and colours, and none says Plaza or shows the platform's host.
 * On the platform's host too, the shell follows the organization Sue works in:
 * Northwind's brand in Harbour Cafe, the platform's in her own account.
 *
 * PLAZA_E2E_SCREENSHOTS=<folder> saves a screenshot of each step there.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import type { DnsResolver } from '../../server/modules/branding/index.ts';
import type { OrgContext } from '../../server/tenancy.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { linkToken, mailTo } from '../helpers/email.ts';
import { png } from '../helpers/images.ts';
import { randomVerifier, s256 } from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { type Person, person, registerApp, type TestApp } from '../helpers/world.ts';

const HOST = 'app.northwind.test';
const PRIMARY = '#0b5d1e';
const records = new Map<string, string[]>();
const resolver: DnsResolver = {
  resolveTxt: async (name) => (records.get(`TXT ${name}`) ?? []).map((v) => [v]),
  resolveCname: async (name) => records.get(`CNAME ${name}`) ?? [],
};

let plaza: PlazaServer;
let browser: Browser | undefined;
let ana: Person;
let sue: Person;
let agency: OrgContext;
let subId: string;
let app: TestApp;
let agencyOrigin: string;

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  plaza = await startPlazaServer({ modules: { branding: { resolver, refreshMs: 100 } } });
  agencyOrigin = `http://${HOST}:${new URL(plaza.baseUrl).port}`;
  const { organizations } = plaza.core;
  ana = await person(plaza, 'Ana Northwind');
  const org = await organizations.create(ana.actor, { name: 'Northwind Agency', kind: 'agency' });
  agency = await organizations.resolveContext(ana.actor, org.id);
  subId = (await organizations.createSubAccount(agency, { name: 'Harbour Cafe' })).id;
  sue = await person(plaza, 'Sue Cafe');
  const subCtx = await organizations.resolveContext(ana.actor, subId);
  await organizations.invite(subCtx, { email: sue.email, role: 'admin' });
  const invitation = await mailTo(plaza, sue.email, /invited you/);
  await organizations.acceptInvitation(sue.actor, linkToken(invitation, '/invitations'));
  app = await registerApp(plaza, {
    name: 'Review Booster',
    redirectUris: ['https://booster.example.com/callback'],
    scopes: [{ name: 'contacts:read' }],
  });
  // app.northwind.test resolves to this machine, as the agency's CNAME would make it.
  browser = await launchBrowser([`--host-resolver-rules=MAP ${HOST} 127.0.0.1`]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await plaza?.close();
});

async function snap(page: Page, name: string) {
  const dir = process.env.PLAZA_E2E_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `branding-${name}.png`), fullPage: true });
}

async function signedInPage(origin: string, who: Person, width: number): Promise<Page> {
  const context = await browser!.newContext({ baseURL: origin, viewport: { width, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  await page.goto('/login');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: /sign in/i }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
  return page;
}

describe('an agency brands its sub-accounts', () => {
  it('Ana publishes a theme with a logo and verifies her domain on the Branding page', async () => {
    const page = await signedInPage(plaza.baseUrl, ana, 1280);
    await page.goto(`/orgs/${agency.org.id}/branding`);
    await page.getByLabel('Brand name').fill('Northwind Apps');
    await page.getByLabel('Primary', { exact: true }).fill(PRIMARY);
    await page.getByLabel('Accent', { exact: true }).fill('#c2410c');
    await page.getByLabel('Email sender name').fill('Northwind Support');
    await page.getByLabel('Footer text').fill('Northwind Ltd, 1 Harbour Road');
    // The preview follows the form before anything is saved.
    await expect.poll(() => page.getByTestId('brand-preview').textContent()).toContain('Northwind Apps');
    await page
      .getByLabel('Logo')
      .setInputFiles({ name: 'logo.png', mimeType: 'image/png', buffer: png(200, 50) });
    await page.getByRole('button', { name: 'Upload logo' }).click();
    await page.getByText('The logo is uploaded').waitFor();
    await page.getByRole('button', { name: 'Save and publish' }).click();
    await page.getByText('Version 1 is live').waitFor();
    await snap(page, 'ana-branding');

    await page.getByLabel('Domain', { exact: true }).fill(HOST);
    await page.getByRole('button', { name: 'Add domain' }).click();
    await page.getByText('Waiting for DNS').waitFor();
    // She creates the records the page shows.
    const [domain] = (await plaza.core.branding.domains.list(agency)).filter((d) => d.hostname === HOST);
    for (const r of domain.records) {
      await page.getByText(r.value, { exact: true }).first().waitFor();
      records.set(`${r.type} ${r.name}`, [r.value]);
    }
    await page.getByRole('button', { name: 'Check now' }).click();
    await waitFor('the domain to turn active', async () => {
      await page.reload();
      return page
        .getByText('Active', { exact: true })
        .waitFor({ timeout: 2000 })
        .then(
          () => true,
          () => false,
        );
    });
    await snap(page, 'ana-domain-active');
    await page.context().close();
  });

  for (const width of [1280, 390]) {
    it(`Sue sees only Northwind on app.northwind.test at ${width} px, through sign-in, every page and consent`, async () => {
      const page = await signedInPage(agencyOrigin, sue, width);
      const platformHost = new URL(plaza.baseUrl).host;
      const walk = [
        '/',
        '/marketplace',
        `/orgs/${subId}/members`,
        `/orgs/${subId}/contacts`,
        `/orgs/${subId}/installed-apps`,
        `/orgs/${subId}/billing`,
        `/orgs/${subId}/api-keys`,
        `/orgs/${subId}/audit`,
        '/notifications',
      ];
      for (const [i, where] of walk.entries()) {
        await page.goto(where);
        await page.waitForLoadState('networkidle');
        const text = await page.locator('body').innerText();
        const html = await page.content();
        expect(text, `${where} names Plaza`).not.toMatch(/plaza/i);
        expect(await page.title(), `${where} title`).not.toMatch(/plaza/i);
        expect(html, `${where} names the platform host`).not.toContain(platformHost);
        // The brand: the logo in the header, its colour on the accent.
        await expect
          .poll(() => page.locator('header .brand img').getAttribute('src'))
          .toMatch(/^\/v1\/branding\/assets\//);
        const accent = await page.evaluate(() =>
          getComputedStyle(document.documentElement).getPropertyValue('--accent').trim(),
        );
        expect(accent).toBe(PRIMARY);
        if (i < 3) await snap(page, `sue-${width}-${i}`);
      }

      // Install an app: the consent page is on this host, in Northwind's brand.
      await page.route('https://booster.example.com/**', (route) =>
        route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the app' }),
      );
      const q = new URLSearchParams({
        client_id: app.clientId,
        redirect_uri: app.redirectUri,
        response_type: 'code',
        scope: 'contacts:read',
        code_challenge: s256(randomVerifier()),
        code_challenge_method: 'S256',
        state: `w${width}`,
      });
      await page.goto(`/oauth/auth?${q}`);
      await page.getByRole('button', { name: /install|continue/i }).waitFor();
      expect(new URL(page.url()).host).toBe(`${HOST}:${new URL(plaza.baseUrl).port}`);
      const consent = await page.locator('body').innerText();
      expect(await page.title()).toMatch(/· Northwind Apps$/);
      expect(consent).not.toMatch(/plaza/i);
      expect(await page.content()).not.toContain(platformHost);
      const button = await page.evaluate(() => {
        const b = document.querySelector('button.primary');
        return b ? getComputedStyle(b).backgroundColor : null;
      });
      expect(button).toBe('rgb(11, 93, 30)');
      await snap(page, `sue-${width}-consent`);
      await page.getByRole('button', { name: /install|continue/i }).click();
      await page.waitForURL((u) => u.host === 'booster.example.com');
      const back = new URL(page.url());
      expect(back.searchParams.get('iss')).toBe(`${agencyOrigin}/oauth`);
      expect(back.searchParams.get('code')).toBeTruthy();
      await page.context().close();
    });
  }

  it('on the platform host, Sue sees Northwind in Harbour Cafe and Plaza again in her own account', async () => {
    const own = await plaza.core.organizations.create(sue.actor, { name: 'Sue Bakery', kind: 'account' });
    const page = await signedInPage(plaza.baseUrl, sue, 1280);
    const accent = () =>
      page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim());
    const brandLabel = () => page.locator('header a.brand').getAttribute('aria-label');

    await page.goto(`/orgs/${subId}/members`);
    await page.waitForLoadState('networkidle');
    await expect.poll(brandLabel).toBe('Northwind Apps home');
    await expect.poll(accent).toBe(PRIMARY);
    expect(await page.locator('header .brand img').getAttribute('src')).toMatch(/^\/v1\/branding\/assets\//);
    await expect.poll(() => page.title()).toBe('Members · Northwind Apps');
    expect(await page.locator('header').innerText()).not.toMatch(/plaza/i);
    expect(await page.locator('body').innerText()).not.toMatch(/plaza/i);
    expect(await page.locator('footer').innerText()).toContain('Northwind Ltd, 1 Harbour Road');
    await snap(page, 'sue-platform-host-sub-account');

    // Her own account is nobody's sub-account: the platform's brand comes back without a reload.
    await page.locator('#org-switcher').selectOption(own.id);
    await page.waitForURL((u) => u.pathname === `/orgs/${own.id}/members`);
    await expect.poll(brandLabel).toBe('Plaza home');
    await expect.poll(() => page.locator('header .brand').innerText()).toContain('Plaza');
    expect(await page.locator('header .brand img').count()).toBe(0);
    expect(await accent()).not.toBe(PRIMARY);
    await expect.poll(() => page.title()).toBe('Members · Plaza');
    expect(await page.locator('footer').innerText()).not.toContain('Northwind');

    // And back: the agency's brand again.
    await page.locator('#org-switcher').selectOption(subId);
    await expect.poll(brandLabel).toBe('Northwind Apps home');
    await expect.poll(accent).toBe(PRIMARY);
    await page.context().close();
  });
});
