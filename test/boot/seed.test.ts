import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readImage } from '../../server/modules/apps/images.ts';
import { seedDemo } from '../../server/seed/index.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';

/**
 * The first-start demo data, seen the way a visitor, the operator and the
 * developer see it: a marketplace with live apps, pictures that load,
 * ratings and install counts, and one app waiting in the review queue.
 */
let plaza: TestPlaza;
let logins: Awaited<ReturnType<typeof seedDemo>>;

beforeAll(async () => {
  // As in server/main.ts: the seed runs before the workers start.
  plaza = await startPlaza({}, { workers: false });
  logins = await seedDemo(plaza.core);
  await plaza.core.startWorkers();
}, 60_000);
afterAll(() => plaza?.close());

const LIVE = [
  'newsletter-kit',
  'text-reminders',
  'quick-invoices',
  'footfall-insights',
  'helpdesk-inbox',
  'shift-rota',
];

async function signIn(who: string) {
  const login = logins!.find((l) => l.email === who)!;
  const agent = supertest.agent(plaza.app.callback());
  await agent.post('/v1/auth/login').send({ email: login.email, password: login.password }).expect(200);
  return agent;
}

describe('the demo seed', () => {
  it('lists six live apps from Acme Apps, in varied categories and all four pricing types', async () => {
    const res = await plaza.http.get('/v1/marketplace/apps?limit=50').expect(200);
    const apps = res.body.data as any[];
    expect(apps.map((a) => a.slug).sort()).toEqual([...LIVE].sort());
    expect(new Set(apps.map((a) => a.developer.name))).toEqual(new Set(['Acme Apps']));
    expect(new Set(apps.map((a) => a.category)).size).toBe(6);
    expect(new Set(apps.map((a) => a.pricing.type))).toEqual(
      new Set(['free', 'one_time', 'recurring', 'usage']),
    );
    // Search finds them by what their descriptions say.
    const search = await plaza.http.get('/v1/marketplace/apps?q=no-shows').expect(200);
    expect(search.body.data.map((a: any) => a.slug)).toEqual(['text-reminders']);
  });

  it('gives every app a PNG icon and screenshot that load, a Markdown description, scopes and policy links', async () => {
    for (const slug of LIVE) {
      const page = (await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(200)).body;
      expect(page.descriptionHtml).toContain('<h2>');
      expect(page.descriptionHtml).toContain('<li>');
      expect(page.scopes.length).toBeGreaterThan(0);
      expect(page.supportUrl).toMatch(/^https:\/\//);
      expect(page.privacyUrl).toMatch(/^https:\/\//);
      expect(page.screenshotUrls.length).toBeGreaterThanOrEqual(1);
      for (const [url, kind] of [
        [page.iconUrl, 'icon'],
        ...page.screenshotUrls.map((u: string) => [u, 'screenshot']),
      ]) {
        const res = await plaza.http.get(new URL(url).pathname).buffer(true).expect(200);
        expect(res.headers['content-type']).toBe('image/png');
        const image = readImage(res.body);
        expect(image, `${slug} ${kind}`).toMatchObject({ type: 'image/png' });
        if (kind === 'icon') expect(image).toMatchObject({ width: 128, height: 128 });
        else expect(image!.width).toBeGreaterThanOrEqual(320);
      }
    }
  });

  it('shows install counts and ratings, so the popular and rating orders differ', async () => {
    const popular = (await plaza.http.get('/v1/marketplace/apps?sort=popular').expect(200)).body.data;
    const rating = (await plaza.http.get('/v1/marketplace/apps?sort=rating').expect(200)).body.data;
    const installs = Object.fromEntries(popular.map((a: any) => [a.slug, a.installCount]));
    expect(installs).toMatchObject({ 'newsletter-kit': 2, 'text-reminders': 2, 'shift-rota': 0 });
    expect(
      popular
        .slice(0, 2)
        .map((a: any) => a.slug)
        .sort(),
    ).toEqual(['newsletter-kit', 'text-reminders']);
    expect(rating.slice(0, 3).map((a: any) => [a.slug, a.rating])).toEqual([
      ['text-reminders', { average: 5, count: 1 }],
      ['quick-invoices', { average: 4, count: 1 }],
      ['newsletter-kit', { average: 3.5, count: 2 }],
    ]);
    expect(popular.map((a: any) => a.slug)).not.toEqual(rating.map((a: any) => a.slug));

    const reviews = (await plaza.http.get('/v1/marketplace/apps/footfall-insights/reviews').expect(200)).body
      .data;
    expect(reviews).toHaveLength(1);
    expect(reviews[0]).toMatchObject({ rating: 3, account: { name: 'Corner Bakery' } });
    expect(reviews[0].reply.body).toMatch(/year-on-year/i);
  });

  it('leaves one app queued for the operator to review', async () => {
    const admin = await signIn('admin@plaza.localhost');
    const queue = (await admin.get('/v1/review/queue').expect(200)).body.data;
    expect(queue).toHaveLength(1);
    expect(queue[0]).toMatchObject({
      slug: 'loyalty-cards',
      state: 'queued',
      developer: { name: 'Acme Apps' },
      claimedBy: null,
    });
    expect((await plaza.http.get('/v1/marketplace/apps/loyalty-cards')).status).toBe(404);
  });

  it('gives the developer two test accounts, one with the queued app installed in development mode', async () => {
    const dev = await signIn('dev@plaza.localhost');
    const me = (await dev.get('/v1/me').expect(200)).body;
    const acme = me.organizations.find((o: any) => o.name === 'Acme Apps');
    const tests = (await dev.get(`/v1/organizations/${acme.id}/test-accounts`).expect(200)).body.data;
    expect(tests.map((t: any) => t.name).sort()).toEqual(['Acme Test Clinic', 'Acme Test Shop']);
    const shop = tests.find((t: any) => t.name === 'Acme Test Shop');
    const installed = (await dev.get(`/v1/organizations/${shop.id}/installations`).expect(200)).body.data;
    expect(installed).toHaveLength(1);
  });

  it('survives the checks jobs queued at submission, and does not seed twice', async () => {
    // The workers now run the checks jobs the submissions enqueued: each finds nothing left to do.
    const pending = async () =>
      (
        await plaza.core.db.one<{ n: number }>(
          `SELECT count(*)::int AS n FROM jobs WHERE name = 'reviews.checks' AND state <> 'failed'`,
        )
      ).n;
    for (let i = 0; i < 400 && (await pending()) > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await pending()).toBe(0);
    expect(await plaza.core.jobs.failed('reviews.checks')).toEqual([]);
    const admin = await signIn('admin@plaza.localhost');
    expect((await admin.get('/v1/review/queue').expect(200)).body.data).toHaveLength(1);

    expect(await seedDemo(plaza.core)).toBeNull();
    const res = await plaza.http.get('/v1/marketplace/apps?limit=50').expect(200);
    expect(res.body.data).toHaveLength(LIVE.length);
  });
});
