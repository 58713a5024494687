/**
 * Ratings, replies and marketplace operations in Chromium.
 *
 * Carla's account Corner Shop has Rota Planner installed (made through the
 * installations service, as the OAuth flow does); Bay Bakery rated it 2 stars
 * already. On the app page Carla rates it 5 stars with text, then edits it to
 * 4: the average on the page follows (3.5, then 3). Her other account, which
 * has not installed the app, is told to install it first. The developer
 * replies once: the reply shows under the review and the Reply box is gone (a
 * second reply is refused by the API). Olga, a platform admin, opens
 * Operations, hides Carla's review with a reason (a reason is required): it
 * leaves the public page and the average. Then she finds the app in the list
 * of all apps and suspends it with a reason: it leaves marketplace search; she
 * finds it again under the Suspended filter, reinstates it, and it is back.
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
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { account, type Person, person, registerApp, type TestApp, uniqueEmail } from '../helpers/world.ts';

let plaza: PlazaServer;
let app: TestApp;
let slug: string;
let developerName: string;
let carla: Person;
let shop: OrgContext;
let side: OrgContext;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];
let customerPage: Page;
let developerPage: Page;
let adminPage: Page;

async function signedInPage(email: string, password: string, width = 1200): Promise<Page> {
  const context = await browser!.newContext({ baseURL: plaza.baseUrl, viewport: { width, height: 900 } });
  context.setDefaultTimeout(15_000);
  contexts.push(context);
  const page = await context.newPage();
  const res = await page.request.post('/v1/auth/login', { data: { email, password } });
  expect(res.status()).toBe(200);
  return page;
}

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  plaza = await startPlazaServer();
  const { core } = plaza;
  app = await registerApp(plaza, {
    name: 'Rota Planner',
    redirectUris: ['https://rota.example.com/callback'],
    scopes: [{ name: 'contacts:read' }],
  });
  slug = (await core.apps.get(app.developer, app.appId)).slug;
  developerName = app.developer.org.name;

  carla = await person(plaza, 'Carla Customer');
  shop = await account(plaza, carla, 'Corner Shop');
  side = await account(plaza, carla, 'Side Project'); // has not installed the app
  const install = (accountId: string, who: Person) =>
    core.installations.create({
      accountId,
      appId: app.appId,
      versionId: app.versionId,
      grantedScopes: ['contacts:read'],
      actor: who.actor,
    });
  await install(shop.org.id, carla);

  // Another account rated it 2 stars already.
  const bea = await person(plaza, 'Bea Baker');
  const bakery = await account(plaza, bea, 'Bay Bakery');
  await install(bakery.org.id, bea);
  await core.marketplace.putRating(bakery, slug, { rating: 2, body: 'Works, but the week view is cramped.' });

  const olga = { email: uniqueEmail('olga'), password: 'operator password 123' };
  await core.identity.createUser(core.db, { name: 'Olga Operator', ...olga, platformRole: 'admin' });

  browser = await launchBrowser();
  customerPage = await signedInPage(carla.email, carla.password);
  developerPage = await signedInPage(app.developerPerson.email, app.developerPerson.password);
  adminPage = await signedInPage(olga.email, olga.password);
}, 120_000);

afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await plaza?.close();
});

async function snap(page: Page, name: string): Promise<void> {
  const dir = process.env.PLAZA_E2E_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `ratings-${name}.png`), fullPage: true });
}

/** The rating summary in the app page's reviews section. */
const ratingOf = (page: Page) =>
  page.getByRole('region', { name: 'Ratings and reviews' }).getByRole('img', { name: /^Rated|^No ratings/ });

/** Marketplace search for the app's name, through the API the marketplace page uses. */
async function searchFinds(): Promise<boolean> {
  const res = await plaza.http.get('/v1/marketplace/apps').query({ q: 'Rota Planner' }).expect(200);
  return res.body.data.some((a: { appId: string }) => a.appId === app.appId);
}

describe('ratings and reviews', () => {
  it('a customer rates an installed app and edits the rating; the average follows', async () => {
    const page = customerPage;
    await page.goto(`/marketplace/${slug}`);
    await page.getByRole('heading', { level: 1, name: 'Rota Planner' }).waitFor();
    await expect.poll(() => ratingOf(page).getAttribute('aria-label')).toBe('Rated 2 out of 5 by 1 person');

    const yours = page.getByRole('region', { name: 'Your review' });
    await yours.getByLabel('Review as').selectOption({ label: 'Corner Shop' });
    // Posting without stars names the missing rating.
    await yours.getByRole('button', { name: 'Post review' }).click();
    await yours.getByText('Choose a rating from 1 to 5 stars.').waitFor();

    const stars = yours.getByRole('group', { name: 'Your rating' });
    await stars.getByRole('radio', { name: '5 stars' }).check();
    await yours.getByText('5 out of 5: Excellent').waitFor();
    await yours.getByLabel('Your review (optional)').fill('Made our weekly rota in ten minutes.');
    await yours.getByRole('button', { name: 'Post review' }).click();
    await yours.getByText('Thank you: your review is posted.').waitFor();
    await expect.poll(() => ratingOf(page).getAttribute('aria-label')).toBe('Rated 3.5 out of 5 by 2 people');
    const mine = page.getByRole('listitem', { name: 'Review by Corner Shop' });
    await mine.getByText('Made our weekly rota in ten minutes.').waitFor();

    // Edit: the form starts from the review; the arrow keys move between stars.
    await yours.getByRole('button', { name: 'Edit your review' }).click();
    expect(await stars.getByRole('radio', { name: '5 stars' }).isChecked()).toBe(true);
    await stars.getByRole('radio', { name: '5 stars' }).focus();
    await page.keyboard.press('ArrowLeft');
    expect(await stars.getByRole('radio', { name: '4 stars' }).isChecked()).toBe(true);
    await yours
      .getByLabel('Your review (optional)')
      .fill('Made our weekly rota in ten minutes. Exports are slow.');
    await yours.getByRole('button', { name: 'Save changes' }).click();
    await yours.getByText('Your review is updated.').waitFor();
    await expect.poll(() => ratingOf(page).getAttribute('aria-label')).toBe('Rated 3 out of 5 by 2 people');
    await mine.getByText('Exports are slow.').waitFor();
    await mine.getByRole('img', { name: '4 out of 5 stars' }).waitFor();

    // An account without the app is told to install it first.
    await yours.getByLabel('Review as').selectOption({ label: 'Side Project' });
    await yours.getByText('Install it first.').waitFor();
    await yours.getByText('Side Project has not installed Rota Planner').waitFor();
    expect(await yours.getByRole('button', { name: 'Post review' }).count()).toBe(0);
    // The API says the same when asked anyway.
    const refused = await page.request.put(
      `/v1/organizations/${side.org.id}/marketplace/apps/${slug}/review`,
      {
        data: { rating: 5 },
        headers: { 'x-csrf-token': await csrf(page) },
      },
    );
    expect(refused.status()).toBe(403);
    expect((await refused.json()).detail).toContain('has not installed Rota Planner');
  });

  it('the developer replies once; the reply shows under the review and the box is gone', async () => {
    const page = developerPage;
    await page.goto(`/marketplace/${slug}`);
    const carlas = page.getByRole('listitem', { name: 'Review by Corner Shop' });
    await carlas.getByRole('button', { name: 'Reply to Corner Shop' }).click();
    await carlas
      .getByLabel(`Reply to Corner Shop as ${developerName}`)
      .fill('Thanks! Faster exports ship next month.');
    await carlas.getByRole('button', { name: 'Post reply' }).click();
    await carlas.getByText(`Reply from ${developerName}`).waitFor();
    await carlas.getByText('Faster exports ship next month.').waitFor();
    expect(await carlas.getByRole('button', { name: /Reply/ }).count()).toBe(0);
    // The other review can still be answered; after a reload Carla's has no box.
    await page.reload();
    await page
      .getByRole('listitem', { name: 'Review by Bay Bakery' })
      .getByRole('button', { name: 'Reply to Bay Bakery' })
      .waitFor();
    await carlas.getByText('Faster exports ship next month.').waitFor();
    expect(await carlas.getByRole('button', { name: /Reply/ }).count()).toBe(0);

    // A second reply is refused.
    const reviewId = (await plaza.core.marketplace.getOwnRating(shop, slug)).id;
    const second = await page.request.post(
      `/v1/organizations/${app.developer.org.id}/marketplace/apps/${slug}/reviews/${reviewId}/reply`,
      { data: { body: 'Another answer' }, headers: { 'x-csrf-token': await csrf(page) } },
    );
    expect(second.status()).toBe(409);

    // Customers see the reply too.
    await customerPage.reload();
    const seen = customerPage.getByRole('listitem', { name: 'Review by Corner Shop' });
    await seen.getByText('Faster exports ship next month.').waitFor();
    expect(await seen.getByRole('button', { name: /Reply/ }).count()).toBe(0);
    await snap(customerPage, '01-app-page');
    // At 390 px wide.
    await customerPage.setViewportSize({ width: 390, height: 844 });
    await customerPage
      .getByRole('region', { name: 'Your review' })
      .getByRole('button', { name: 'Edit your review' })
      .click();
    await snap(customerPage, '02-app-page-390');
    const overflow = await customerPage.evaluate(
      () => document.documentElement.scrollWidth > window.innerWidth,
    );
    expect(overflow).toBe(false);
    await customerPage.setViewportSize({ width: 1200, height: 900 });
  });
});

/** The CSRF token of a signed-in page's session. */
async function csrf(page: Page): Promise<string> {
  const me = await page.request.get('/v1/me');
  return (await me.json()).csrfToken;
}

describe('operations', () => {
  it('an admin hides a review with a reason: it leaves the page and the average', async () => {
    const page = adminPage;
    await page.goto('/marketplace');
    await page.getByRole('link', { name: 'Operations' }).click();
    await page.getByRole('heading', { name: 'Marketplace operations' }).waitFor();

    const filters = page.getByRole('search', { name: 'Filter reviews' });
    await filters.getByLabel('App address').fill(slug);
    await filters.getByRole('button', { name: 'Filter' }).click();
    const list = page.getByRole('list', { name: 'Reviews to moderate' });
    const carlas = list.getByRole('listitem', { name: 'Review of Rota Planner by Corner Shop' });
    await carlas.getByText('Exports are slow.').waitFor();
    await carlas.getByText('Faster exports ship next month.').waitFor();
    expect(await list.getByRole('listitem').count()).toBe(2);

    await carlas.getByRole('button', { name: 'Hide the review by Corner Shop' }).click();
    const form = carlas.getByRole('group', { name: 'Hide the review by Corner Shop' });
    await form.getByRole('button', { name: 'Hide review' }).click();
    await form.getByText('A reason is required').waitFor();
    await form.getByLabel('Why hide it?').fill('Names a member of staff at the bakery next door.');
    await form.getByRole('button', { name: 'Hide review' }).click();
    await page.getByText('The review by Corner Shop is hidden').waitFor();
    await carlas.getByText('Reason: Names a member of staff at the bakery next door.').waitFor();
    await carlas.getByText('Hidden', { exact: true }).waitFor();
    await snap(page, '03-moderation');
    await page.setViewportSize({ width: 390, height: 844 });
    await snap(page, '04-moderation-390');
    expect(await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)).toBe(false);
    await page.setViewportSize({ width: 1200, height: 900 });

    // Filtering by state.
    await filters.getByLabel('Show').selectOption({ label: 'Hidden' });
    await filters.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => list.getByRole('listitem').count()).toBe(1);

    // The public page: gone from the list and the average; Carla sees it is hidden.
    await customerPage.reload();
    await expect
      .poll(() => ratingOf(customerPage).getAttribute('aria-label'))
      .toBe('Rated 2 out of 5 by 1 person');
    await customerPage.getByRole('listitem', { name: 'Review by Bay Bakery' }).waitFor();
    expect(await customerPage.getByRole('listitem', { name: 'Review by Corner Shop' }).count()).toBe(0);
    await customerPage
      .getByRole('region', { name: 'Your review' })
      .getByText('The Plaza team has hidden this review')
      .waitFor();
  });

  it('an admin suspends the app from the apps list: it leaves marketplace search; reinstated, it is back', async () => {
    const page = adminPage;
    await page
      .getByRole('navigation', { name: 'Operations sections' })
      .getByRole('link', { name: 'Apps' })
      .click();
    const filters = page.getByRole('search', { name: 'Filter apps' });
    const list = page.getByRole('list', { name: 'Apps', exact: true });
    const rota = list.getByRole('listitem', { name: 'Rota Planner' });
    // Every app is listed, with its developer and live version.
    await rota.getByText(`by ${developerName}`).waitFor();
    await rota.getByText('Version 1 live').waitFor();
    await rota.getByText('Active', { exact: true }).waitFor();

    await filters.getByLabel('App name or address').fill('rota plan');
    await filters.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => list.getByRole('listitem').count()).toBe(1);
    await rota.getByRole('button', { name: 'Suspend Rota Planner' }).click();
    const form = rota.getByRole('group', { name: 'Suspend Rota Planner' });
    await form.getByRole('button', { name: 'Suspend app' }).click();
    await form.getByText('A reason is required').waitFor();
    await form.getByLabel('Why suspend it?').fill('Sends contacts to an undisclosed third party.');
    await form.getByRole('button', { name: 'Suspend app' }).click();
    await page.getByText('Rota Planner is suspended: it left the marketplace').waitFor();
    await rota.getByText('Suspended', { exact: true }).waitFor();
    expect(await searchFinds()).toBe(false);

    // The customer's marketplace search no longer shows it.
    await customerPage.goto('/marketplace?q=Rota%20Planner');
    await customerPage.getByRole('heading', { name: 'No apps found' }).waitFor();

    // After a reload, the status filter finds it with its reason.
    await page.reload();
    await filters.getByLabel('App name or address').fill('');
    await filters.getByLabel('Status').selectOption({ label: 'Suspended' });
    await filters.getByRole('button', { name: 'Filter' }).click();
    await rota.getByText('Reason: Sends contacts to an undisclosed third party.').waitFor();
    await expect.poll(() => list.getByRole('listitem').count()).toBe(1);
    await snap(page, '05-suspended');
    await page.setViewportSize({ width: 390, height: 844 });
    await snap(page, '06-suspended-390');
    expect(await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth)).toBe(false);
    await page.setViewportSize({ width: 1200, height: 900 });

    await rota.getByRole('button', { name: 'Reinstate Rota Planner' }).click();
    await page.getByText('Rota Planner is reinstated and back in the marketplace.').waitFor();
    await rota.getByText('Active', { exact: true }).waitFor();
    await page.reload();
    await page.getByText('No apps match.').waitFor();
    expect(await searchFinds()).toBe(true);
    await customerPage.reload();
    await customerPage
      .getByRole('link', { name: /Rota Planner/ })
      .first()
      .waitFor();
  });
});
