import path from 'node:path';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type PlazaServer, startPlazaServer } from '../../../test/helpers/plaza.ts';
import { waitFor } from '../../../test/helpers/wait.ts';
import {
  createOrg,
  type InstalledApp,
  installApp,
  type SignedIn,
  signInWithPlatformRole,
  signUp,
  withInstalledApp,
} from '../../../test/helpers/world.ts';

/**
 * The data-products plugin on a real core and PostgreSQL: accounts opt in
 * over HTTP, create contacts through the contacts API (core events the plugin
 * records), the operator refreshes, an app with the product's scope queries.
 * Noise is seeded per product and period (PLAZA_PLUGIN_DATA_PRODUCTS_NOISE_SEED),
 * so two releases of the same cells draw the same noise and differ exactly by
 * what changed in the data: that is how the test sees who contributed.
 */
const PRODUCTS_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), 'products');
const env = {
  PLAZA_PLUGINS: 'data-products',
  PLAZA_PLUGIN_DATA_PRODUCTS_PRODUCTS_DIR: PRODUCTS_DIR,
  PLAZA_PLUGIN_DATA_PRODUCTS_NOISE_SEED: 'fixed-seed-for-tests',
};
const PRODUCT = 'cohort_contacts';
const SCOPE = `data:${PRODUCT}:read`;

let plaza: PlazaServer;
let owner: SignedIn;
let operator: SignedIn;
let reader: InstalledApp;
let accounts: string[];
let outsider: string;
let period: string;

/** Monday of the current week, UTC: the period the contacts created now fall in. */
function thisWeek(): string {
  const now = new Date();
  const d = new Date(
    Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - ((now.getUTCDay() + 6) % 7)),
  );
  return d.toISOString().slice(0, 10);
}

const put = (who: SignedIn, url: string, body: object) =>
  who.agent.put(`/v1/data-products${url}`).set('x-csrf-token', who.csrf).send(body);

async function contacts(orgId: string, n: number) {
  for (let i = 0; i < n; i++)
    await owner.agent
      .post(`/v1/organizations/${orgId}/contacts`)
      .set('x-csrf-token', owner.csrf)
      .send({ name: `Contact ${i} of ${orgId.slice(-6)}` })
      .expect(201);
}

const inputsOf = async (orgId: string) =>
  (
    await plaza.core.db.one<{ n: number }>(
      'SELECT count(*)::int AS n FROM data_products_inputs WHERE organization_id = $1',
      [orgId],
    )
  ).n;

/** Waits until the plugin has recorded `n` inputs of the account (core events arrive asynchronously). */
const recorded = (orgId: string, n: number) =>
  waitFor(`${n} inputs of ${orgId}`, async () => (await inputsOf(orgId)) === n);

const refresh = async () =>
  (
    await operator.agent
      .post(`/v1/data-products/products/${PRODUCT}/refresh`)
      .set('x-csrf-token', operator.csrf)
      .expect(200)
  ).body;

const query = (token = reader.accessToken, q = `?period=${period}`) =>
  plaza.http.get(`/v1/data-products/${PRODUCT}/query${q}`).set('authorization', `Bearer ${token}`);

beforeAll(async () => {
  // Products are read when the plugin is imported, from the process environment.
  vi.stubEnv('PLAZA_PLUGIN_DATA_PRODUCTS_PRODUCTS_DIR', PRODUCTS_DIR);
  plaza = await startPlazaServer({ env });
  period = thisWeek();
  owner = await signUp(plaza, { name: 'Owen Owner' });
  operator = await signInWithPlatformRole(plaza, 'admin');
  accounts = [];
  for (let i = 0; i < 10; i++) accounts.push((await createOrg(owner, 'account', `Dental ${i}`)).id);
  outsider = (await createOrg(owner, 'account', 'Dental outsider')).id;
  for (const id of [...accounts, outsider])
    await put(owner, `/organizations/${id}/sharing/profile`, {
      vertical: 'dental-clinic',
      region: 'europe',
    }).expect(200);
  reader = await withInstalledApp(plaza, { scopes: [{ name: SCOPE }], name: 'Benchmark Reader' });
}, 120_000);
afterAll(async () => {
  await plaza?.close();
  vi.unstubAllEnvs();
});

describe('data products', () => {
  it('accounts are out by default and opt in per product on their sharing settings', async () => {
    const res = await owner.agent.get(`/v1/data-products/organizations/${accounts[0]}/sharing`).expect(200);
    expect(res.body.profile).toEqual({ vertical: 'dental-clinic', region: 'europe' });
    expect(res.body.products).toEqual([
      expect.objectContaining({ id: PRODUCT, optedIn: false, k: 10, period: 'week' }),
      expect.objectContaining({ id: 'cohort_installs', optedIn: false, period: 'month' }),
    ]);
    for (const id of accounts.slice(0, 9)) {
      const on = await put(owner, `/organizations/${id}/sharing/${PRODUCT}`, { optedIn: true }).expect(200);
      expect(on.body.products[0]).toMatchObject({ optedIn: true });
    }
  });

  it('k: 9 contributors in a group are suppressed, 10 show it', async () => {
    for (const id of accounts.slice(0, 9)) await contacts(id, 2);
    for (const id of accounts.slice(0, 9)) await recorded(id, 2);
    const nine = await refresh();
    expect(nine.periods.find((p: any) => p.period === period)).toMatchObject({ cells: 0, suppressed: 1 });
    const suppressed = await query().expect(200);
    expect(suppressed.body).toMatchObject({ product: PRODUCT, period, k: 10, cells: [] });
    expect(suppressed.body.epsilon).toEqual({ spent: 0.3, budget: 1.5, release: 0.3 });

    await put(owner, `/organizations/${accounts[9]}/sharing/${PRODUCT}`, { optedIn: true }).expect(200);
    await contacts(accounts[9], 2);
    await recorded(accounts[9], 2);
    const ten = await refresh();
    expect(ten.periods.find((p: any) => p.period === period)).toMatchObject({
      cells: 1,
      suppressed: 0,
      changed: true,
    });
    const shown = await query().expect(200);
    expect(shown.body.cells).toHaveLength(1);
    const [cell] = shown.body.cells;
    expect(Object.keys(cell).sort()).toEqual([
      'accounts',
      'mean',
      'median',
      'p25',
      'p75',
      'total',
      'vertical',
    ]);
    expect(cell.vertical).toBe('dental-clinic');
    // Noisy (the exact figures are 10 accounts and 20 contacts), but a release at all.
    expect(cell.total).not.toBe(20);
    expect(shown.body.epsilon.spent).toBe(0.6);
    expect(Date.parse(shown.body.refreshedAt)).toBeLessThanOrEqual(Date.parse(shown.body.releasedAt));
  });

  it('an account that did not opt in never contributes: the release moves by the one contact of a contributor, not its five', async () => {
    const before = (await query().expect(200)).body;
    await contacts(outsider, 5);
    // A later contact of a contributor: once it is recorded, the outsider's earlier events were delivered too.
    await contacts(accounts[0], 1);
    await recorded(accounts[0], 3);
    expect(await inputsOf(outsider)).toBe(0);
    const again = await refresh();
    expect(again.periods.find((p: any) => p.period === period).changed).toBe(true); // accounts[0] moved
    const after = (await query().expect(200)).body;
    // Same seeded noise, same cells but one contact more in accounts[0]: the total moved by exactly 1.
    expect(after.cells[0].total - before.cells[0].total).toBe(1);
    expect(after.cells[0].accounts).toBe(before.cells[0].accounts);
  });

  it('one account with 10,000 rows moves the sum by at most its clamp bound', async () => {
    const before = (await query().expect(200)).body.cells[0];
    await plaza.core.db.query(
      `INSERT INTO data_products_inputs (event_id, organization_id, source, occurred_at)
       SELECT 'evt_bulk_' || g, $1, 'contacts.created', now() FROM generate_series(1, 10000) g`,
      [accounts[1]],
    );
    await refresh();
    const after = (await query().expect(200)).body.cells[0];
    // accounts[1] had 2; clamped to 10, it adds 8, not 9,998.
    expect(after.total - before.total).toBe(8);
    await plaza.core.db.query("DELETE FROM data_products_inputs WHERE event_id LIKE 'evt_bulk_%'");
  });

  it('inputs older than every refresh window are deleted by the refresh (kept no longer than needed)', async () => {
    // Without the 10,000 rows the cells are as two tests ago: that release is answered again, for free.
    await refresh();
    const before = (await query().expect(200)).body;
    expect(before.epsilon.spent).toBe(1.2);
    await plaza.core.db.query(
      `INSERT INTO data_products_inputs (event_id, organization_id, source, occurred_at)
       VALUES ('evt_old', $1, 'contacts.created', now() - interval '60 days')`,
      [accounts[1]],
    );
    await refresh();
    expect(await inputsOf(accounts[1])).toBe(2);
    // Nothing in the window changed, so the release (and the budget) is as it was.
    expect((await query().expect(200)).body).toEqual({ ...before, refreshedAt: expect.any(String) });
  });

  it('opting out removes the account from the next refresh (the group falls under k again)', async () => {
    await put(owner, `/organizations/${accounts[9]}/sharing/${PRODUCT}`, { optedIn: false }).expect(200);
    expect(await inputsOf(accounts[9])).toBe(0);
    await refresh();
    const res = await query().expect(200);
    expect(res.body.cells).toEqual([]);
    // The cells are as they were at the first release (none): that release is answered again, for free.
    expect(res.body.epsilon.spent).toBe(1.2);
    const audit = await owner.agent.get(`/v1/organizations/${accounts[9]}/audit-log`).expect(200);
    const actions = audit.body.data
      .map((a: { action: string }) => a.action)
      .filter((a: string) => a.startsWith('data-products.'));
    expect(actions.sort()).toEqual([
      'data-products.opted_in',
      'data-products.opted_out',
      'data-products.profile_set',
    ]);
  });

  it('the ε budget holds under concurrent queries: one release pays, then 409 PLAZA_DP_BUDGET_EXHAUSTED', async () => {
    await put(owner, `/organizations/${accounts[9]}/sharing/${PRODUCT}`, { optedIn: true }).expect(200);
    await refresh();
    const answers = await Promise.all(Array.from({ length: 8 }, () => query()));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect(new Set(answers.map((a) => JSON.stringify(a.body.cells))).size).toBe(1);
    expect(answers[0].body.epsilon.spent).toBe(1.5);

    await contacts(accounts[2], 1);
    await recorded(accounts[2], 3);
    await refresh();
    const refused = await Promise.all(Array.from({ length: 8 }, () => query()));
    expect(refused.map((a) => a.status)).toEqual(Array(8).fill(409));
    expect(refused[0].headers['content-type']).toMatch(/application\/problem\+json/);
    expect(refused[0].body).toMatchObject({
      code: 'PLAZA_DP_BUDGET_EXHAUSTED',
      epsilonSpent: 1.5,
      epsilonBudget: 1.5,
    });

    const ledger = await operator.agent.get(`/v1/data-products/products/${PRODUCT}/budget`).expect(200);
    const week = ledger.body.periods.find((p: any) => p.period === period);
    expect(week).toMatchObject({ epsilonSpent: 1.5, epsilonBudget: 1.5 });
    expect(week.releases).toHaveLength(5);
    expect(week.releases.reduce((a: number, r: any) => a + r.epsilon, 0)).toBeCloseTo(1.5, 9);
  });

  it('meters answered app queries per app', async () => {
    const usage = await operator.agent.get(`/v1/data-products/products/${PRODUCT}/usage`).expect(200);
    const mine = usage.body.data.find((u: any) => u.appId === reader.app.appId);
    expect(mine.currency).toBe('USD');
    expect(mine.amount).toBe(mine.queries * 10);
    expect(mine.queries).toBeGreaterThanOrEqual(14);
  });

  it("charges the app's account for its queries: a card on file pays, none fails and leaves the usage for the next run", async () => {
    const payer = supertest.agent(plaza.app.callback());
    await payer
      .post('/v1/auth/login')
      .send({ email: reader.owner.email, password: reader.owner.password })
      .expect(200);
    const before = (
      await payer.get(`/v1/data-products/organizations/${reader.accountId}/charges`).expect(200)
    ).body;
    expect(before.data).toEqual([]);
    const [{ queries, amount }] = before.unbilled;
    expect(amount).toBe(queries * 10);

    const until = new Date(Date.now() + 1000).toISOString();
    const run = async () =>
      (
        await operator.agent
          .post('/v1/data-products/charges/run')
          .set('x-csrf-token', operator.csrf)
          .send({ until })
          .expect(200)
      ).body.data;
    const [failed] = await run();
    expect(failed).toMatchObject({ organizationId: reader.accountId, status: 'failed', amount, queries });
    expect(failed.failure).toMatch(/checkout/);
    expect(
      (await payer.get(`/v1/data-products/organizations/${reader.accountId}/charges`).expect(200)).body
        .unbilled,
    ).toEqual([{ currency: 'USD', amount, queries }]);

    // The account pays something of the platform once (a plan, say), which saves its card.
    const { sessionId } = await plaza.core.payments.platformCharges.checkout({
      owner: 'plugin:card-on-file',
      organizationId: reader.accountId,
      amount: 500n,
      currency: 'USD',
      description: 'First payment',
      reference: 'first',
      successUrl: `${plaza.baseUrl}/ok`,
      cancelUrl: `${plaza.baseUrl}/cancel`,
    });
    await plaza.http
      .post(`/v1/payments/sandbox/checkout/${sessionId}/pay`)
      .send({ card: '4242424242424242' })
      .expect(200);
    await waitFor('the saved card', async () =>
      plaza.core.db.maybeOne('SELECT 1 FROM payments_platform_methods WHERE organization_id = $1', [
        reader.accountId,
      ]),
    );

    const [paid] = await run();
    expect(paid).toMatchObject({ organizationId: reader.accountId, status: 'succeeded', amount, queries });
    expect(await run()).toEqual([]); // nothing is charged twice
    const after = (await payer.get(`/v1/data-products/organizations/${reader.accountId}/charges`).expect(200))
      .body;
    expect(after.unbilled).toEqual([]);
    expect(after.data.map((c: { status: string }) => c.status)).toEqual(['succeeded', 'failed']);
    expect(
      (await plaza.core.payments.platformCharges.byReference('plugin:data-products', paid.id)).status,
    ).toBe('succeeded');
    // Another account's people do not see it.
    await owner.agent.get(`/v1/data-products/organizations/${reader.accountId}/charges`).expect(404);
  });

  it("contributing accounts see their own vertical's benchmarks; others are refused", async () => {
    const lastWeek = (
      await owner.agent
        .get(`/v1/data-products/organizations/${accounts[0]}/benchmarks/${PRODUCT}`)
        .expect(200)
    ).body;
    expect(lastWeek.vertical).toBe('dental-clinic');
    expect(lastWeek.answer.cells.every((c: any) => c.vertical === 'dental-clinic')).toBe(true);
    const refused = await owner.agent
      .get(`/v1/data-products/organizations/${outsider}/benchmarks/${PRODUCT}`)
      .expect(403);
    expect(refused.body.code).toBe('PLAZA_DATA_PRODUCTS_NOT_CONTRIBUTING');
  });

  it('refuses other tenants, apps without the scope and people without the role', async () => {
    const stranger = await signUp(plaza, { name: 'Stan Stranger' });
    await stranger.agent.get(`/v1/data-products/organizations/${accounts[0]}/sharing`).expect(404);
    await put(stranger, `/organizations/${accounts[0]}/sharing/${PRODUCT}`, { optedIn: false }).expect(404);
    await stranger.agent
      .get(`/v1/data-products/organizations/${accounts[0]}/benchmarks/${PRODUCT}`)
      .expect(404);
    await stranger.agent.get(`/v1/data-products/products/${PRODUCT}/budget`).expect(403);
    await stranger.agent
      .post(`/v1/data-products/products/${PRODUCT}/refresh`)
      .set('x-csrf-token', stranger.csrf)
      .expect(403);
    // An app installed with contacts:read only.
    const other = await withInstalledApp(plaza, { name: 'No Data App' });
    const missing = await query(other.accessToken).expect(403);
    expect(missing.body.code).toBe('PLAZA_SCOPE_MISSING');
    // People's sessions are not app tokens.
    await owner.agent.get(`/v1/data-products/${PRODUCT}/query`).expect(401);
    expect(await inputsOf(accounts[0])).toBe(3); // nothing the stranger did changed the opt-in
  });

  it('records app installs only for accounts opted in to a product of that source', async () => {
    await put(owner, `/organizations/${accounts[1]}/sharing/cohort_installs`, { optedIn: true }).expect(200);
    const installs = (orgId: string) =>
      plaza.core.db
        .one<{ n: number }>(
          "SELECT count(*)::int AS n FROM data_products_inputs WHERE organization_id = $1 AND source = 'apps.installed'",
          [orgId],
        )
        .then((r) => r.n);
    // accounts[2] contributes contacts, not installs.
    await installApp(plaza, reader.app, accounts[2], [SCOPE]);
    await installApp(plaza, reader.app, accounts[1], [SCOPE]);
    await waitFor('the install of accounts[1]', async () => (await installs(accounts[1])) === 1);
    expect(await installs(accounts[2])).toBe(0);
    const refreshed = (
      await operator.agent
        .post('/v1/data-products/products/cohort_installs/refresh')
        .set('x-csrf-token', operator.csrf)
        .expect(200)
    ).body;
    // One contributor is far from k = 10.
    expect(refreshed.periods).toEqual([expect.objectContaining({ cells: 0, suppressed: 1 })]);
  });

  it('bad input is a 400 naming the field', async () => {
    const profile = await put(owner, `/organizations/${accounts[0]}/sharing/profile`, {
      vertical: 'spaceship',
      region: 'europe',
    }).expect(400);
    expect(profile.body.fields).toEqual([expect.objectContaining({ field: 'body.vertical' })]);
    const wednesday = new Date(`${period}T00:00:00Z`);
    wednesday.setUTCDate(wednesday.getUTCDate() + 2);
    const notMonday = await query(
      reader.accessToken,
      `?period=${wednesday.toISOString().slice(0, 10)}`,
    ).expect(400);
    expect(notMonday.body.fields).toEqual([
      { field: 'query.period', reason: expect.stringMatching(/Monday/) },
    ]);
    const region = await query(reader.accessToken, `?period=${period}&region=europe`).expect(400);
    expect(region.body.fields[0].field).toBe('query.region');
    const bare = await createOrg(owner, 'account', 'No profile yet');
    const noProfile = await put(owner, `/organizations/${bare.id}/sharing/${PRODUCT}`, {
      optedIn: true,
    }).expect(400);
    expect(noProfile.body.fields[0].field).toBe('body.optedIn');
    await put(owner, `/organizations/${accounts[0]}/sharing/no_such_product`, { optedIn: true }).expect(404);
  });
});
