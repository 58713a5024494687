import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../server/ids.ts';
import type { ListingInput } from '../../server/modules/marketplace/service.ts';
import {
  installListing,
  listing,
  publish,
  waitForInstallCount,
  walk,
  withdraw,
} from '../helpers/marketplace.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, signUp } from '../helpers/world.ts';

let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza({ PLAZA_RATE_LIMIT_ANONYMOUS_PER_MINUTE: '100000' });
});
afterAll(() => plaza.close());

const search = async (query: Record<string, string | number>) =>
  (await plaza.http.get('/v1/marketplace/apps').query(query).expect(200)).body;
const slugs = (body: { data: Array<{ slug: string }> }) => body.data.map((a) => a.slug);
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

describe('marketplace search', () => {
  it('finds apps by name, tagline and description, name matches first', async () => {
    // Published in the reverse of the expected order, so no accidental id order passes.
    await publish(
      plaza,
      listing({
        slug: 'counting-house',
        name: 'Counting House',
        tagline: 'Bookkeeping for small shops',
        description: '## Why\n\nBuilt on the **zephyr** engine, so month-end closes in minutes.',
      }),
    );
    await publish(
      plaza,
      listing({
        slug: 'ledger-pro',
        name: 'Ledger Pro',
        tagline: 'The zephyr of bookkeeping',
        description: 'Books.',
      }),
    );
    await publish(
      plaza,
      listing({
        slug: 'zephyr-invoices',
        name: 'Zephyr Invoices',
        tagline: 'Billing',
        description: 'Send bills.',
      }),
    );

    const body = await search({ q: 'zephyr' });
    expect(slugs(body)).toEqual(['zephyr-invoices', 'ledger-pro', 'counting-house']);
    expect(body.nextCursor).toBeNull();
    expect(body.data[0]).toMatchObject({
      name: 'Zephyr Invoices',
      tagline: 'Billing',
      category: 'other',
      pricing: { type: 'free' },
      iconUrl: null,
      developer: { name: 'Some Developer' },
      rating: { average: null, count: 0 },
      installCount: 0,
    });
    expect(Object.keys(body.data[0]).sort()).toEqual(
      [
        'appId',
        'slug',
        'name',
        'tagline',
        'category',
        'pricing',
        'iconUrl',
        'developer',
        'rating',
        'installCount',
        'publishedAt',
        'listedAt',
      ].sort(),
    );

    // English stemming: "invoicing" finds "Invoices"; web search syntax excludes with a minus.
    expect(slugs(await search({ q: 'invoicing' }))).toEqual(['zephyr-invoices']);
    expect(slugs(await search({ q: 'zephyr -ledger' })).sort()).toEqual([
      'counting-house',
      'zephyr-invoices',
    ]);
    expect(slugs(await search({ q: '"month-end closes"' }))).toEqual(['counting-house']);
    expect(slugs(await search({ q: 'nothingmatchesthis' }))).toEqual([]);
  });

  it('combines the category and pricing filters with search', async () => {
    const made = [
      { slug: 'quokka-crm', category: 'crm', pricing: { type: 'free' } },
      {
        slug: 'quokka-crm-plus',
        category: 'crm',
        pricing: { type: 'recurring', interval: 'month', amount: 1900, currency: 'USD', trialDays: 14 },
      },
      {
        slug: 'quokka-stats',
        category: 'analytics',
        pricing: { type: 'recurring', interval: 'year', amount: 9900, currency: 'EUR', trialDays: 0 },
      },
      {
        slug: 'quokka-sms',
        category: 'communication',
        pricing: { type: 'usage', unitName: 'message', unitAmount: 2, currency: 'USD', cappedAmount: 5000 },
      },
      { slug: 'quokka-once', category: 'crm', pricing: { type: 'one_time', amount: 4900, currency: 'USD' } },
      { slug: 'wallaby-crm', category: 'crm', pricing: { type: 'free' } },
    ] as const;
    for (const m of made)
      await publish(
        plaza,
        listing({
          slug: m.slug,
          name: m.slug.replace('-', ' '),
          category: m.category,
          pricing: m.pricing as ListingInput['pricing'],
        }),
      );

    const sorted = (xs: string[]) => [...xs].sort();
    expect(sorted(slugs(await search({ q: 'quokka', category: 'crm' })))).toEqual([
      'quokka-crm',
      'quokka-crm-plus',
      'quokka-once',
    ]);
    expect(slugs(await search({ q: 'quokka', category: 'crm', pricing: 'recurring' }))).toEqual([
      'quokka-crm-plus',
    ]);
    expect(slugs(await search({ q: 'quokka', pricing: 'usage' }))).toEqual(['quokka-sms']);
    const free = slugs(await search({ pricing: 'free', limit: 100 }));
    expect(free).toContain('wallaby-crm');
    expect(free).not.toContain('quokka-once');
    const crm = (await search({ category: 'crm', limit: 100 })).data;
    expect(crm.every((a: { category: string }) => a.category === 'crm')).toBe(true);
    const plus = (await search({ q: 'quokka', pricing: 'recurring', category: 'crm' })).data[0];
    expect(plus.pricing).toEqual({
      type: 'recurring',
      interval: 'month',
      amount: 1900,
      currency: 'USD',
      trialDays: 14,
    });

    // A query of only stop words filters nothing rather than everything.
    expect((await search({ q: 'the', category: 'crm', limit: 100 })).data.length).toBe(crm.length);

    const bad = await plaza.http.get('/v1/marketplace/apps').query({ pricing: 'cheap' }).expect(400);
    expect(bad.body.fields[0].field).toBe('query.pricing');
    const badCat = await plaza.http.get('/v1/marketplace/apps').query({ category: 'games' }).expect(400);
    expect(badCat.body.fields[0].field).toBe('query.category');
    const badSort = await plaza.http.get('/v1/marketplace/apps').query({ sort: 'cheapest' }).expect(400);
    expect(badSort.body.fields[0].field).toBe('query.sort');
  });

  describe('sort orders', () => {
    // Five apps mentioning "wombat"; installs, publication times and ratings set apart (with ties).
    const apps: Record<string, ListingInput> = {};
    beforeAll(async () => {
      const spec = [
        { key: 'w1', name: 'Wombat Mail', minutes: 50, installs: 3 },
        { key: 'w2', name: 'Burrow', tagline: 'Wombat-proof backups', minutes: 40, installs: 1 },
        { key: 'w3', name: 'Dig Deep', description: 'For every wombat out there.', minutes: 30, installs: 0 },
        { key: 'w4', name: 'Wombat Calendar', minutes: 20, installs: 2 },
        { key: 'w5', name: 'Night Owl', tagline: 'A wombat schedule', minutes: 10, installs: 1 },
      ];
      for (const s of spec) {
        apps[s.key] = await publish(
          plaza,
          listing({
            slug: `sort-${s.key}`,
            name: s.name,
            tagline: s.tagline ?? '',
            description: s.description ?? '',
            publishedAt: minutesAgo(s.minutes),
          }),
        );
        for (let i = 0; i < s.installs; i++) await installListing(plaza, newId('acct'), apps[s.key]);
      }
      for (const s of spec) await waitForInstallCount(plaza, `sort-${s.key}`, s.installs);

      // Ratings come from accounts that installed the app, through the API.
      const person = await signUp(plaza);
      const rate = async (key: string, stars: number[]) => {
        for (const rating of stars) {
          const account = await createOrg(person, 'account');
          await installListing(plaza, account.id, apps[key], person.user.id);
          await person.agent
            .put(`/v1/organizations/${account.id}/marketplace/apps/sort-${key}/review`)
            .set('x-csrf-token', person.csrf)
            .send({ rating, body: 'ok' })
            .expect(200);
        }
      };
      await rate('w1', [5, 4]); // 4.5 of 2
      await rate('w2', [5]); // 5 of 1
      await rate('w3', [4, 5]); // 4.5 of 2 (ties w1)
      await rate('w5', [3]); // 3 of 1; w4 has none
      // Rating installs add to the counts: w1 5, w2 2, w3 2, w4 2, w5 2.
      for (const [key, n] of Object.entries({ w1: 5, w2: 2, w3: 2, w4: 2, w5: 2 }))
        await waitForInstallCount(plaza, `sort-${key}`, n);
    });

    const byId = (keys: string[]) => [...keys].sort((a, b) => (apps[a].appId < apps[b].appId ? -1 : 1));
    const expected = (keys: string[]) => keys.map((k) => `sort-${k}`);

    it('relevance: name matches, then tagline, then description; ties by popularity', async () => {
      const body = await search({ q: 'wombat', sort: 'relevance' });
      // w1, w4 in the name (w1 more installed); w2, w5 in the tagline (equal installs: by id); w3 in the description.
      expect(slugs(body)).toEqual(expected(['w1', 'w4', ...byId(['w2', 'w5']), 'w3']));
      // Relevance is the default with a query.
      expect(slugs(await search({ q: 'wombat' }))).toEqual(slugs(body));
    });

    it('popular: most active installations first', async () => {
      const body = await search({ q: 'wombat', sort: 'popular' });
      expect(slugs(body)).toEqual(expected(['w1', ...byId(['w2', 'w3', 'w4', 'w5'])]));
      expect(body.data.map((a: { installCount: number }) => a.installCount)).toEqual([5, 2, 2, 2, 2]);
    });

    it('newest: most recently listed first, and a new version does not move an app up', async () => {
      expect(slugs(await search({ q: 'wombat', sort: 'newest' }))).toEqual(
        expected(['w5', 'w4', 'w3', 'w2', 'w1']),
      );
      // A new live version of the oldest app: its publishedAt changes, its place in "newest" does not.
      const v2 = {
        ...apps.w1,
        versionId: newId('ver'),
        versionNumber: 2,
        publishedAt: new Date().toISOString(),
      };
      await publish(plaza, v2);
      const after = await search({ q: 'wombat', sort: 'newest' });
      expect(slugs(after)).toEqual(expected(['w5', 'w4', 'w3', 'w2', 'w1']));
      expect(after.data[4].publishedAt).toBe(v2.publishedAt);
      expect(after.data[4].listedAt).toBe(apps.w1.publishedAt);
    });

    it('rating: highest average first, more ratings break ties, unrated last', async () => {
      const body = await search({ q: 'wombat', sort: 'rating' });
      expect(slugs(body)).toEqual(expected(['w2', ...byId(['w1', 'w3']), 'w5', 'w4']));
      expect(body.data.map((a: { rating: unknown }) => a.rating)).toEqual([
        { average: 5, count: 1 },
        { average: 4.5, count: 2 },
        { average: 4.5, count: 2 },
        { average: 3, count: 1 },
        { average: null, count: 0 },
      ]);
    });

    it('without a query, relevance falls back to popularity', async () => {
      const all = await search({ sort: 'relevance', limit: 100 });
      const popular = await search({ sort: 'popular', limit: 100 });
      expect(slugs(all)).toEqual(slugs(popular));
      const counts = popular.data.map((a: { installCount: number }) => a.installCount);
      expect(counts).toEqual([...counts].sort((a, b) => b - a));
    });
  });

  it('pagination walks every result of every sort once, with no gaps, even among ties', async () => {
    // Seven look-alikes: same time, no installs, no ratings, so only the id tells them apart.
    const at = minutesAgo(5);
    for (let i = 0; i < 7; i++)
      await publish(
        plaza,
        listing({ slug: `numbat-${i}`, name: `Numbat ${i % 2 ? 'Notes' : 'Tasks'}`, publishedAt: at }),
      );
    const total = (await search({ limit: 100 })).data.length;
    expect(total).toBeGreaterThan(20);
    for (const sort of ['relevance', 'popular', 'newest', 'rating']) {
      for (const q of ['numbat', 'wombat', undefined]) {
        for (const limit of [1, 2, 3]) {
          const query = { sort, limit, ...(q ? { q } : {}) };
          const walked = await walk(plaza, query);
          const whole = (await search({ ...query, limit: 100 })).data;
          const label = `${sort} ${q ?? '(all)'} by ${limit}`;
          expect(
            walked.map((a) => a.appId),
            label,
          ).toEqual(whole.map((a: { appId: string }) => a.appId));
          expect(new Set(walked.map((a) => a.appId)).size, label).toBe(walked.length);
          if (!q) expect(walked.length, label).toBe(total);
          if (q === 'numbat') expect(walked.length, label).toBe(7);
        }
      }
    }
  });

  it('takes any query text: operators and quotes are words, never SQL or syntax errors', async () => {
    for (const q of [
      '"unclosed',
      '& | ! ( ) :*',
      "'; DROP TABLE marketplace_listings; --",
      '-',
      'or',
      'ünïcödé 日本語',
    ])
      await search({ q });
    expect(slugs(await search({ q: '"zephyr' }))[0]).toBe('zephyr-invoices');
    const long = await plaza.http
      .get('/v1/marketplace/apps')
      .query({ q: 'x'.repeat(201) })
      .expect(400);
    expect(long.body.fields[0].field).toBe('query.q');
  });

  it('refuses a cursor it did not give out, or one from another sort order', async () => {
    const bad = await plaza.http.get('/v1/marketplace/apps').query({ cursor: 'garbage' }).expect(400);
    expect(bad.body.fields[0].field).toBe('query.cursor');
    const first = await search({ sort: 'popular', limit: 1 });
    expect(first.nextCursor).toEqual(expect.any(String));
    const mixed = await plaza.http
      .get('/v1/marketplace/apps')
      .query({ sort: 'newest', cursor: first.nextCursor })
      .expect(400);
    expect(mixed.body.fields[0].field).toBe('query.cursor');
    const forged = Buffer.from(JSON.stringify(['popular', '1; DROP TABLE x', 'app_1'])).toString('base64url');
    await plaza.http.get('/v1/marketplace/apps').query({ sort: 'popular', cursor: forged }).expect(400);
  });

  it('withdrawn apps vanish from search and their page, and come back when published again', async () => {
    const l = await publish(plaza, listing({ slug: 'platypus-planner', name: 'Platypus Planner' }));
    expect(slugs(await search({ q: 'platypus' }))).toEqual(['platypus-planner']);
    await withdraw(plaza, l.appId);
    expect(slugs(await search({ q: 'platypus' }))).toEqual([]);
    expect(slugs(await search({ limit: 100 }))).not.toContain('platypus-planner');
    for (const sort of ['popular', 'newest', 'rating'])
      expect(slugs(await search({ sort, limit: 100 }))).not.toContain('platypus-planner');
    await plaza.http.get('/v1/marketplace/apps/platypus-planner').expect(404);
    await plaza.http.get('/v1/marketplace/apps/platypus-planner/reviews').expect(404);

    await publish(plaza, {
      ...l,
      versionId: newId('ver'),
      versionNumber: 2,
      publishedAt: new Date().toISOString(),
    });
    const back = await search({ q: 'platypus' });
    expect(slugs(back)).toEqual(['platypus-planner']);
    expect(back.data[0].listedAt).toBe(l.publishedAt);
  });
});

describe('app page', () => {
  it('shows the live listing: safe HTML, scopes in plain words, pricing, developer, links', async () => {
    plaza.core.scopes.register({
      name: 'burrows:read',
      consentText: 'See your burrows and who lives in them',
      sensitivity: 'basic',
      owner: 'test',
    });
    const l = await publish(
      plaza,
      listing({
        slug: 'burrow-map',
        name: 'Burrow Map',
        tagline: 'Maps of every burrow',
        description:
          '# Burrow Map\n\nSee **all** burrows. <script>alert(1)</script>\n\n[Docs](https://burrow.example/docs) [bad](javascript:alert(1))',
        category: 'productivity',
        pricing: { type: 'one_time', amount: 2500, currency: 'USD' },
        scopes: [
          { name: 'burrows:read', consentText: 'words recorded at publication', optional: false },
          { name: 'tunnels:write', consentText: 'Dig tunnels for you', optional: true },
        ],
        developer: { organizationId: newId('org'), name: 'Mole Works' },
        iconUrl: 'https://cdn.example/icon.png',
        screenshotUrls: ['https://cdn.example/1.png', 'https://cdn.example/2.png'],
        supportUrl: 'https://burrow.example/support',
        privacyUrl: 'https://burrow.example/privacy',
        termsUrl: null,
        versionNumber: 3,
      }),
    );
    const page = (await plaza.http.get('/v1/marketplace/apps/burrow-map').expect(200)).body;
    expect(page).toMatchObject({
      appId: l.appId,
      slug: 'burrow-map',
      name: 'Burrow Map',
      tagline: 'Maps of every burrow',
      category: 'productivity',
      pricing: { type: 'one_time', amount: 2500, currency: 'USD' },
      developer: { name: 'Mole Works' },
      iconUrl: 'https://cdn.example/icon.png',
      screenshotUrls: ['https://cdn.example/1.png', 'https://cdn.example/2.png'],
      supportUrl: 'https://burrow.example/support',
      privacyUrl: 'https://burrow.example/privacy',
      termsUrl: null,
      rating: { average: null, count: 0 },
      installCount: 0,
      version: { id: l.versionId, number: 3 },
      publishedAt: l.publishedAt,
    });
    expect(page.scopes).toEqual([
      { name: 'burrows:read', description: 'See your burrows and who lives in them', optional: false },
      { name: 'tunnels:write', description: 'Dig tunnels for you', optional: true },
    ]);
    expect(page.descriptionHtml).toContain('<h1>Burrow Map</h1>');
    expect(page.descriptionHtml).toContain('<strong>all</strong>');
    expect(page.descriptionHtml).not.toContain('<script');
    expect(page.descriptionHtml).toContain('&lt;script&gt;');
    expect(page.descriptionHtml).toMatch(/<a href="https:\/\/burrow.example\/docs"[^>]*rel="[^"]*noopener/);
    expect(page.descriptionHtml).not.toContain('href="javascript:');
  });

  it('answers 404 for an unknown app', async () => {
    const res = await plaza.http.get('/v1/marketplace/apps/no-such-app').expect(404);
    expect(res.body.detail).toBe('app not found');
    await plaza.http.get('/v1/marketplace/apps/no-such-app/reviews').expect(404);
  });

  it('counts active installations, following install and uninstall events, idempotently', async () => {
    const l = listing({ slug: 'echidna-chat', name: 'Echidna Chat' });
    // Installed (development mode) before it is listed: publish counts it.
    const early = newId('acct');
    await installListing(plaza, early, l);
    await publish(plaza, l);
    expect((await plaza.http.get('/v1/marketplace/apps/echidna-chat').expect(200)).body.installCount).toBe(1);

    const second = newId('acct');
    await installListing(plaza, second, l);
    await waitForInstallCount(plaza, 'echidna-chat', 2);
    await plaza.core.oauth.uninstallInstallation(
      { accountId: early, appId: l.appId },
      { userId: null, email: null, platformRole: null, ip: null, requestId: null },
      'uninstalled_by_account',
    );
    await waitForInstallCount(plaza, 'echidna-chat', 1);
    // Delivery is at least once: the same event again changes nothing.
    await plaza.core.marketplace.recountInstalls(l.appId);
    await plaza.core.marketplace.recountInstalls(l.appId);
    const page = await plaza.http.get('/v1/marketplace/apps/echidna-chat').expect(200);
    expect(page.body.installCount).toBe(1);
    const hit = (await search({ q: 'echidna' })).data[0];
    expect(hit.installCount).toBe(1);
  });
});
