/**
 * Dashboards in Chromium with 90 days of seeded history: a developer's, an
 * agency's and the operator's. The numbers written on the charts (ECharts
 * draws SVG, so they are text in the page) and the table under each chart are
 * checked against SQL over the raw events computed here. A phone-sized
 * viewport (390 px) shows the same charts without sideways scrolling.
 * PLAZA_E2E_SCREENSHOTS=<dir> keeps a screenshot of each.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb } from '../../scripts/build-web.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { type Person, person, registerApp, type TestApp, uniqueEmail } from '../helpers/world.ts';

let plaza: PlazaServer;
let browser: Browser | undefined;
const contexts: BrowserContext[] = [];
let app: TestApp;
let app2: TestApp;
let agencyOwner: Person;
let agencyId: string;
const admin = { email: uniqueEmail('olga'), password: 'operator password 123' };

async function signedInPage(email: string, password: string, width = 1280): Promise<Page> {
  const context = await browser!.newContext({ baseURL: plaza.baseUrl, viewport: { width, height: 900 } });
  context.setDefaultTimeout(15_000);
  contexts.push(context);
  const page = await context.newPage();
  const res = await page.request.post('/v1/auth/login', { data: { email, password } });
  expect(res.status()).toBe(200);
  return page;
}

async function snap(page: Page, name: string): Promise<void> {
  const dir = process.env.PLAZA_E2E_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `dashboard-${name}.png`), fullPage: true });
}

/** The last `n` UTC days, oldest first. */
const lastDays = (n: number) =>
  Array.from({ length: n }, (_, i) =>
    new Date(Date.now() - (n - 1 - i) * 86_400_000).toISOString().slice(0, 10),
  );

/** Count of events of a type per UTC day over the last `days` days (apps: only theirs). */
async function perDay(type: string, days: string[], appIds?: string[]) {
  const rows = await plaza.core.db.query(
    `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*)::int AS n FROM events
     WHERE type = $1 AND created_at >= $2::date AND ($3::text[] IS NULL OR payload->>'appId' = ANY($3)) GROUP BY 1`,
    [type, days[0], appIds ?? null],
  );
  const by = new Map(rows.map((r) => [r.day as string, r.n as number]));
  return days.map((d) => by.get(d) ?? 0);
}

/** The texts ECharts drew in a chart's SVG (labels, axis ticks, legend). */
const svgTexts = (page: Page, chart: string) =>
  page.locator(`[data-chart="${chart}"] svg text`).allTextContents();

/** The chart's table of numbers: its header and rows of cells. */
async function tableOf(page: Page, chart: string) {
  const card = page.locator(`[data-chart="${chart}"]`);
  await card.locator('summary').click();
  const header = await card.locator('thead th').allTextContents();
  const rows = await card
    .locator('tbody tr')
    .evaluateAll((trs) => trs.map((tr) => [...tr.children].map((c) => (c.textContent ?? '').trim())));
  return { header, rows };
}

beforeAll(async () => {
  await buildWeb({ ifStale: true, quiet: true });
  plaza = await startPlazaServer({ workers: false });
  const { core } = plaza;
  app = await registerApp(plaza, { redirectUris: ['https://example.com/cb'], name: 'Rota Planner' });
  app2 = await registerApp(plaza, {
    redirectUris: ['https://example.com/cb'],
    name: 'Shift Notes',
    sameDeveloperAs: app,
  });
  agencyOwner = await person(plaza, 'Agnes Agency');
  const agency = await core.organizations.create(agencyOwner.actor, {
    name: 'Bright Agency',
    kind: 'agency',
  });
  agencyId = agency.id;
  const agencyCtx = await core.organizations.resolveContext(agencyOwner.actor, agency.id);
  const subAccounts = [];
  for (const name of ['Bright Dental', 'Harbor Yoga', 'Lakeside Vets', 'Pine Street Cafe']) {
    const sub = await core.organizations.createSubAccount(agencyCtx, { name });
    subAccounts.push({ id: sub.id, name });
  }
  await core.analytics.seedHistory({
    days: 90,
    developerOrgId: app.developer.org.id,
    apps: [{ id: app.appId, monthlyPrice: 1900, currency: 'USD' }, { id: app2.appId }],
    agency: { id: agency.id, subAccounts },
    seed: 11,
  });
  // The live creation events of the sub-accounts (workers are off here): counted on the day history says.
  const live = await core.db.query(
    "SELECT * FROM events WHERE type = 'organization.created' AND dispatched_at IS NULL ORDER BY id",
  );
  await core.analytics.ingest(
    live.map((r) => ({
      id: r.id,
      organizationId: r.organization_id,
      type: r.type,
      payload: r.payload,
      createdAt: r.created_at.toISOString(),
    })),
  );
  await core.identity.createUser(core.db, { name: 'Olga Operator', ...admin, platformRole: 'admin' });
  browser = await launchBrowser();
}, 180_000);

afterAll(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await plaza?.close();
});

describe('dashboards in the browser', () => {
  it("developer: the installs drawn for the last 7 days are the raw events' counts", async () => {
    const page = await signedInPage(app.developerPerson.email, app.developerPerson.password);
    await page.goto(`/orgs/${app.developer.org.id}/members`);
    await page.getByRole('navigation').getByRole('link', { name: 'Dashboard' }).click();
    await page.getByRole('heading', { name: 'Your apps at a glance' }).waitFor();
    await page.getByRole('button', { name: '7 days' }).click();
    await page.waitForURL(/range=7d/);
    const days = lastDays(7);
    await page.getByTestId('range').getByText(`${days[0]} to ${days[6]}`).waitFor();
    await page.locator('[data-chart="installs"] svg').waitFor();

    const installs = await perDay('app.installed', days, [app.appId, app2.appId]);
    const uninstalls = await perDay('app.uninstalled', days, [app.appId, app2.appId]);
    // Each non-zero count is written on its bar, and every day is on the axis.
    const texts = await svgTexts(page, 'installs');
    for (const n of [...installs, ...uninstalls].filter((n) => n > 0)) expect(texts).toContain(String(n));
    for (const d of days) expect(texts).toContain(d.slice(5));
    const table = await tableOf(page, 'installs');
    expect(table.header).toEqual(['Label', 'Installs', 'Uninstalls']);
    expect(table.rows).toEqual(days.map((d, i) => [d, String(installs[i]), String(uninstalls[i])]));

    // Money: revenue per day in dollars equals payments less refunds of the paid app.
    const paid = await plaza.core.db.query(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
              sum(CASE WHEN type = 'payment.succeeded' THEN (payload->>'amount')::int ELSE -(payload->>'amount')::int END)::int AS net
       FROM events WHERE type IN ('payment.succeeded', 'payment.refunded') AND created_at >= $1::date GROUP BY 1`,
      [days[0]],
    );
    const net = new Map(paid.map((r) => [r.day, r.net]));
    const revenue = await tableOf(page, 'revenue');
    const usd = (minor: number) =>
      new Intl.NumberFormat(undefined, { style: 'currency', currency: 'USD' }).format(minor / 100);
    expect(revenue.rows).toEqual(days.map((d) => [d, usd(net.get(d) ?? 0)]));
    // A chart with no data says what to do instead of drawing nothing.
    await expect(
      page
        .locator('[data-chart="webhook_latency"]')
        .getByText(/add an endpoint/)
        .isVisible(),
    ).resolves.toBe(true);
    await page.getByRole('button', { name: '90 days' }).click();
    await page.getByTestId('range').getByText(lastDays(90)[0]).waitFor();
    await page.locator('[data-chart="cohorts"] svg').waitFor();
    await snap(page, 'developer-90d');
  });

  it('developer at 390 px: the charts fit the screen', async () => {
    const page = await signedInPage(app.developerPerson.email, app.developerPerson.password, 390);
    await page.goto(`/orgs/${app.developer.org.id}/dashboard?range=30d`);
    await page.locator('[data-chart="active_installations"] svg').waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);
    const box = await page.locator('[data-chart="active_installations"] svg').boundingBox();
    expect(box!.width).toBeGreaterThan(250);
    expect(box!.x + box!.width).toBeLessThanOrEqual(390);
    await snap(page, 'developer-390px');
  });

  it('agency: sub-accounts and installs per sub-account equal SQL', async () => {
    const page = await signedInPage(agencyOwner.email, agencyOwner.password);
    await page.goto(`/orgs/${agencyId}/members`);
    await page.getByRole('navigation').getByRole('link', { name: 'Charts' }).click();
    await page.getByRole('heading', { name: 'Sub-accounts over time' }).waitFor();
    await page.locator('[data-chart="installs_per_sub_account"] svg').waitFor();
    const rows = await plaza.core.db.query(
      `SELECT o.name, count(*) FILTER (WHERE e.type = 'app.installed')::int
                        - count(*) FILTER (WHERE e.type = 'app.uninstalled')::int AS active
       FROM organizations o JOIN events e ON e.organization_id = o.id AND e.type IN ('app.installed', 'app.uninstalled')
       WHERE o.parent_id = $1 GROUP BY o.name`,
      [agencyId],
    );
    expect(rows.length).toBe(4);
    const table = await tableOf(page, 'installs_per_sub_account');
    expect(Object.fromEntries(table.rows.map((r) => [r[0], Number(r[1])]))).toEqual(
      Object.fromEntries(rows.map((r) => [r.name, r.active])),
    );
    const texts = await svgTexts(page, 'installs_per_sub_account');
    for (const r of rows) if (r.active > 0) expect(texts).toContain(String(r.active));
    await expect(page.locator('[data-stat="sub_accounts"]').textContent()).resolves.toContain('4');
    await snap(page, 'agency');
  });

  it('operator: installs per day across the platform equal SQL; searches with no result are listed', async () => {
    await plaza.http.get('/v1/marketplace/apps?q=tide%20tables').expect(200);
    const page = await signedInPage(admin.email, admin.password);
    await page.goto('/operations/reviews');
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByRole('heading', { name: 'Platform health' }).waitFor();
    await page.getByRole('button', { name: '7 days' }).click();
    await page.waitForURL(/range=7d/);
    await page.locator('[data-chart="installs"] svg').waitFor();
    // The URL changes at the click; the 30 days already drawn stay until the 7 days' answer arrives.
    await expect.poll(async () => (await tableOf(page, 'installs')).rows.length).toBe(7);
    const days = lastDays(7);
    const installs = await perDay('app.installed', days);
    const table = await tableOf(page, 'installs');
    expect(table.rows.map((r) => Number(r[1]))).toEqual(installs);
    const texts = await svgTexts(page, 'installs');
    for (const n of installs.filter((n) => n > 0)) expect(texts).toContain(String(n));
    const misses = await tableOf(page, 'search_misses');
    expect(misses.rows).toContainEqual(['tide tables', '1']);
    await snap(page, 'operator');
  });
});
