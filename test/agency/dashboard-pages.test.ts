import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgContext } from '../../server/tenancy.ts';
import { countQueries } from '../helpers/db.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { type Person, person, registerApp, type TestApp } from '../helpers/world.ts';

/**
 * The agency dashboard over 60 sub-accounts: walking its pages gives each
 * sub-account once, in name order, with and without search and filters; a page
 * costs the same number of database queries for 60 sub-accounts as for 3.
 */
let plaza: TestPlaza;
let app: TestApp;
let admin: Person;
let big: OrgContext; // 60 sub-accounts
let small: OrgContext; // 3 sub-accounts
const subs: Array<{ id: string; name: string }> = [];
let withApp: string[];
let paused: string[];

async function agencyWith(name: string, count: number) {
  const ag = await plaza.core.organizations.create(admin.actor, { name, kind: 'agency' });
  const ctx = await plaza.core.organizations.resolveContext(admin.actor, ag.id);
  const made = [];
  for (let n = 1; n <= count; n++)
    made.push(
      await plaza.core.organizations.createSubAccount(ctx, { name: `Shop ${String(n).padStart(2, '0')}` }),
    );
  return { ctx, made };
}

beforeAll(async () => {
  plaza = await startPlaza({}, { workers: false });
  app = await registerApp(plaza, { name: 'Free Forms', redirectUris: ['https://ff.example.com/cb'] });
  admin = await person(plaza, 'Ada Agency');
  const a = await agencyWith('Big Agency', 60);
  big = a.ctx;
  subs.push(...a.made.map((s) => ({ id: s.id, name: s.name })));
  withApp = subs.filter((_, i) => i % 5 === 0).map((s) => s.id); // 12
  await plaza.core.agency.bulkInstall(big, { appId: app.appId, subAccountIds: withApp, scopes: [] });
  paused = [subs[3].id, subs[30].id, subs[59].id];
  for (const id of paused) await plaza.core.organizations.setPaused(big, id, 'did not pay');
  const b = await agencyWith('Small Agency', 3);
  small = b.ctx;
  await plaza.core.agency.bulkInstall(small, { appId: app.appId, subAccountIds: [b.made[0].id], scopes: [] });
  await plaza.core.organizations.setPaused(small, b.made[1].id, 'did not pay');
}, 120_000);
afterAll(() => plaza?.close());

async function signedIn() {
  const agent = supertest.agent(plaza.app.callback());
  await agent.post('/v1/auth/login').send({ email: admin.email, password: admin.password }).expect(200);
  return agent;
}

/** Every page of the dashboard with this query, in order. */
async function walk(query: Record<string, string | number>) {
  const agent = await signedIn();
  const pages: Array<{ data: Array<{ id: string; name: string; apps: unknown[] }>; totals: any }> = [];
  let cursor: string | null = null;
  do {
    const res: { body: any } = await agent
      .get(`/v1/organizations/${big.org.id}/agency-dashboard`)
      .query({ ...query, ...(cursor ? { cursor } : {}) })
      .expect(200);
    pages.push(res.body);
    cursor = res.body.nextCursor;
  } while (cursor && pages.length < 100);
  return pages;
}

const idsOf = (pages: Awaited<ReturnType<typeof walk>>) => pages.flatMap((p) => p.data.map((r) => r.id));

describe('agency dashboard pages', () => {
  it('gives each of 60 sub-accounts once, by name, in full pages', async () => {
    const pages = await walk({ limit: 25 });
    expect(pages.map((p) => p.data.length)).toEqual([25, 25, 10]);
    expect(idsOf(pages)).toEqual(subs.map((s) => s.id));
    expect(pages.map((p) => p.totals.subAccounts)).toEqual([60, 60, 60]);
    expect(pages[0].totals).toMatchObject({ paused: 3, pastDue: 0 });
    // A page shows the apps each has.
    const first = pages[0].data[0];
    expect(first.id).toBe(withApp[0]);
    expect(first.apps).toEqual([expect.objectContaining({ appId: app.appId, name: 'Free Forms' })]);
  });

  it('pages a search and the filters the same way', async () => {
    const search = await walk({ limit: 4, q: 'shop 1' });
    expect(search.map((p) => p.data.length)).toEqual([4, 4, 2]);
    expect(search.flatMap((p) => p.data.map((r) => r.name))).toEqual(
      Array.from({ length: 10 }, (_, i) => `Shop 1${i}`),
    );
    expect(search[0].totals.subAccounts).toBe(10);

    const installed = await walk({ limit: 5, appId: app.appId });
    expect(idsOf(installed)).toEqual(withApp);
    expect(installed.map((p) => p.data.length)).toEqual([5, 5, 2]);

    const none = idsOf(await walk({ limit: 7, status: 'no_apps' }));
    expect(none).toEqual(subs.map((s) => s.id).filter((id) => !withApp.includes(id)));

    expect(idsOf(await walk({ limit: 2, status: 'paused' }))).toEqual(paused);
    expect(idsOf(await walk({ limit: 2, status: 'paused', q: 'shop 3' }))).toEqual([subs[30].id]);
  });

  it('reads a page in as many queries for 60 sub-accounts as for 3', async () => {
    const count = async (ctx: OrgContext, query: Parameters<typeof plaza.core.agency.dashboard>[1]) => {
      const { result: page, sql } = await countQueries(plaza.core.db, () =>
        plaza.core.agency.dashboard(ctx, query),
      );
      return { n: sql.length, rows: page.data.length };
    };
    for (const query of [
      { limit: 50 },
      { limit: 50, appId: app.appId },
      { limit: 50, status: 'no_apps' as const },
    ]) {
      const many = await count(big, query);
      const few = await count(small, query);
      expect(many.rows).toBeGreaterThan(few.rows);
      expect(few.n).toBeGreaterThan(0);
      expect(many.n).toBe(few.n);
    }
  });
});
