import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM_ACTOR } from '../../server/tenancy.ts';
import { installListing, listing, publish, withdraw } from '../helpers/marketplace.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signInWithPlatformRole, signUp } from '../helpers/world.ts';

let plaza: TestPlaza;
beforeAll(async () => {
  plaza = await startPlaza({ PLAZA_RATE_LIMIT_ANONYMOUS_PER_MINUTE: '100000' });
});
afterAll(() => plaza.close());

let counter = 0;
/** A developer organization with a listed app, and the person who owns it. */
async function listedApp() {
  const dev = await signUp(plaza, { name: 'Dana Developer' });
  const org = await createOrg(dev, 'developer', 'Kiwi Software');
  const slug = `kiwi-notes-${++counter}`;
  const l = await publish(
    plaza,
    listing({ slug, name: `Kiwi Notes ${counter}`, developer: { organizationId: org.id, name: org.name } }),
  );
  return { dev, org, slug, listing: l };
}

/** A person with an account that has the app installed. */
async function customer(app: Awaited<ReturnType<typeof listedApp>>, name = 'Corner Bakery') {
  const who = await signUp(plaza);
  const account = await createOrg(who, 'account', name);
  await installListing(plaza, account.id, app.listing, who.user.id);
  return { who, account };
}

const putReview = (who: SignedIn, accountId: string, slug: string, body: object) =>
  who.agent
    .put(`/v1/organizations/${accountId}/marketplace/apps/${slug}/review`)
    .set('x-csrf-token', who.csrf)
    .send(body);
const reply = (who: SignedIn, orgId: string, slug: string, reviewId: string, body: string) =>
  who.agent
    .post(`/v1/organizations/${orgId}/marketplace/apps/${slug}/reviews/${reviewId}/reply`)
    .set('x-csrf-token', who.csrf)
    .send({ body });
const page = async (slug: string) => (await plaza.http.get(`/v1/marketplace/apps/${slug}`).expect(200)).body;
const publicReviews = async (slug: string) =>
  (await plaza.http.get(`/v1/marketplace/apps/${slug}/reviews`).expect(200)).body.data;

describe('ratings and reviews', () => {
  it('an account with the app installed leaves one review, edits it, and the average follows', async () => {
    const app = await listedApp();
    const a = await customer(app, 'Corner Bakery');
    const b = await customer(app, 'Harbour Cafe');

    const first = await putReview(a.who, a.account.id, app.slug, { rating: 5, body: 'Lovely notes.' }).expect(
      200,
    );
    expect(first.body).toMatchObject({
      rating: 5,
      body: 'Lovely notes.',
      account: { name: 'Corner Bakery' },
      reply: null,
      hidden: false,
    });
    await putReview(b.who, b.account.id, app.slug, { rating: 2, body: 'Too slow.' }).expect(200);
    expect((await page(app.slug)).rating).toEqual({ average: 3.5, count: 2 });

    // The same account again edits its review rather than adding one.
    const edited = await putReview(a.who, a.account.id, app.slug, {
      rating: 3,
      body: 'Fine after all.',
    }).expect(200);
    expect(edited.body.id).toBe(first.body.id);
    expect(edited.body).toMatchObject({ rating: 3, body: 'Fine after all.' });
    const reviews = await publicReviews(app.slug);
    expect(reviews).toHaveLength(2);
    expect(reviews.map((r: { rating: number }) => r.rating).sort()).toEqual([2, 3]);
    expect((await page(app.slug)).rating).toEqual({ average: 2.5, count: 2 });
    const search = await plaza.http
      .get('/v1/marketplace/apps')
      .query({ q: 'kiwi', sort: 'rating' })
      .expect(200);
    expect(search.body.data.find((x: { slug: string }) => x.slug === app.slug).rating).toEqual({
      average: 2.5,
      count: 2,
    });

    // The account reads its own review back.
    const own = await a.who.agent
      .get(`/v1/organizations/${a.account.id}/marketplace/apps/${app.slug}/review`)
      .expect(200);
    expect(own.body).toMatchObject({ id: first.body.id, rating: 3 });

    // Audited in the account's log.
    const log = await a.who.agent.get(`/v1/organizations/${a.account.id}/audit-log`).expect(200);
    expect(log.body.data.map((e: { action: string }) => e.action)).toEqual(
      expect.arrayContaining(['marketplace.review.created', 'marketplace.review.edited']),
    );
  });

  it('refuses an account that has not installed the app, saying why', async () => {
    const app = await listedApp();
    const who = await signUp(plaza);
    const account = await createOrg(who, 'account', 'Window Shopper');
    const res = await putReview(who, account.id, app.slug, { rating: 1, body: 'Never used it' }).expect(403);
    expect(res.body.detail).toContain('has not installed');
    expect(res.body.detail).toContain('Window Shopper');

    // Once installed it may; once uninstalled, no more edits.
    await installListing(plaza, account.id, app.listing, who.user.id);
    await putReview(who, account.id, app.slug, { rating: 4 }).expect(200);
    await plaza.core.oauth.uninstallInstallation(
      { accountId: account.id, appId: app.listing.appId },
      SYSTEM_ACTOR,
      'uninstalled_by_account',
    );
    const after = await putReview(who, account.id, app.slug, { rating: 1 }).expect(403);
    expect(after.body.detail).toContain('has not installed');
    expect((await page(app.slug)).rating).toEqual({ average: 4, count: 1 });
  });

  it('checks the input, naming the field', async () => {
    const app = await listedApp();
    const c = await customer(app);
    for (const rating of [0, 6, 4.5, '5']) {
      const res = await putReview(c.who, c.account.id, app.slug, { rating, body: 'x' }).expect(400);
      expect(res.body.fields[0].field).toBe('body.rating');
    }
    const long = await putReview(c.who, c.account.id, app.slug, { rating: 4, body: 'x'.repeat(5001) }).expect(
      400,
    );
    expect(long.body.fields[0].field).toBe('body.body');
    // Only accounts review; unknown and withdrawn apps are not found.
    const devOrg = await createOrg(c.who, 'developer');
    await putReview(c.who, devOrg.id, app.slug, { rating: 4 }).expect(403);
    await putReview(c.who, c.account.id, 'no-such-app', { rating: 4 }).expect(404);
    await withdraw(plaza, app.listing.appId);
    await putReview(c.who, c.account.id, app.slug, { rating: 4 }).expect(404);
  });

  it('the developer replies once; another developer organization cannot reply', async () => {
    const app = await listedApp();
    const c = await customer(app);
    const review = (
      await putReview(c.who, c.account.id, app.slug, { rating: 2, body: 'Crashes on export' }).expect(200)
    ).body;

    const stranger = await signUp(plaza);
    const otherDev = await createOrg(stranger, 'developer', 'Rival Apps');
    const refused = await reply(stranger, otherDev.id, app.slug, review.id, 'Try our app instead!').expect(
      403,
    );
    expect(refused.body.detail).toContain("app's developer");
    // The app's developer cannot reply through an organization it does not belong to either.
    await reply(app.dev, otherDev.id, app.slug, review.id, 'hello').expect(404);

    const answered = await reply(
      app.dev,
      app.org.id,
      app.slug,
      review.id,
      'Fixed in version 2, thanks!',
    ).expect(201);
    expect(answered.body.reply).toMatchObject({ body: 'Fixed in version 2, thanks!' });
    const again = await reply(app.dev, app.org.id, app.slug, review.id, 'And another thing').expect(409);
    expect(again.body.detail).toContain('already has a reply');

    const shown = await publicReviews(app.slug);
    expect(shown[0].reply.body).toBe('Fixed in version 2, thanks!');
    // A review of another app cannot be answered through this app's slug.
    const other = await listedApp();
    const oc = await customer(other);
    const otherReview = (await putReview(oc.who, oc.account.id, other.slug, { rating: 5 }).expect(200)).body;
    await reply(app.dev, app.org.id, app.slug, otherReview.id, 'not mine').expect(404);
    const empty = await reply(app.dev, app.org.id, app.slug, review.id, '   ').expect(400);
    expect(empty.body.fields[0].field).toBe('body.body');
  });

  it('operators hide an abusive review: gone from the public list and the average, audited, and can unhide', async () => {
    const app = await listedApp();
    const nice = await customer(app, 'Nice Account');
    const rude = await customer(app, 'Rude Account');
    await putReview(nice.who, nice.account.id, app.slug, { rating: 5, body: 'Great' }).expect(200);
    const abusive = (
      await putReview(rude.who, rude.account.id, app.slug, {
        rating: 1,
        body: 'insults and a phone number',
      }).expect(200)
    ).body;
    expect((await page(app.slug)).rating).toEqual({ average: 3, count: 2 });

    // Not for customers, developers, or reviewers without admin.
    await nice.who.agent
      .post(`/v1/admin/marketplace/reviews/${abusive.id}/hide`)
      .set('x-csrf-token', nice.who.csrf)
      .send({ reason: 'I do not like it' })
      .expect(403);
    const operator = await signInWithPlatformRole(plaza, 'admin');
    const noReason = await operator.agent
      .post(`/v1/admin/marketplace/reviews/${abusive.id}/hide`)
      .set('x-csrf-token', operator.csrf)
      .send({})
      .expect(400);
    expect(noReason.body.fields[0].field).toBe('body.reason');

    const hidden = await operator.agent
      .post(`/v1/admin/marketplace/reviews/${abusive.id}/hide`)
      .set('x-csrf-token', operator.csrf)
      .send({ reason: 'Personal data and insults' })
      .expect(200);
    expect(hidden.body.hidden).toMatchObject({ reason: 'Personal data and insults' });
    expect((await publicReviews(app.slug)).map((r: { id: string }) => r.id)).not.toContain(abusive.id);
    expect((await page(app.slug)).rating).toEqual({ average: 5, count: 1 });
    await operator.agent
      .post(`/v1/admin/marketplace/reviews/${abusive.id}/hide`)
      .set('x-csrf-token', operator.csrf)
      .send({ reason: 'again' })
      .expect(409);

    // The author still sees it, marked hidden; editing does not bring it back.
    const own = await rude.who.agent
      .get(`/v1/organizations/${rude.account.id}/marketplace/apps/${app.slug}/review`)
      .expect(200);
    expect(own.body.hidden).toBe(true);
    await putReview(rude.who, rude.account.id, app.slug, { rating: 1, body: 'still rude' }).expect(200);
    expect((await page(app.slug)).rating).toEqual({ average: 5, count: 1 });

    const queue = await operator.agent
      .get('/v1/admin/marketplace/reviews')
      .query({ hidden: 'true' })
      .expect(200);
    expect(queue.body.data.map((r: { id: string }) => r.id)).toContain(abusive.id);

    const log = await operator.agent.get('/v1/admin/audit-log').expect(200);
    const entry = log.body.data.find((e: { action: string }) => e.action === 'marketplace.review.hidden');
    expect(entry).toMatchObject({
      actorUserId: operator.user.id,
      targetId: abusive.id,
      data: { reason: 'Personal data and insults' },
    });

    await operator.agent
      .post(`/v1/admin/marketplace/reviews/${abusive.id}/unhide`)
      .set('x-csrf-token', operator.csrf)
      .send({ reason: 'Author removed the personal data' })
      .expect(200);
    expect((await publicReviews(app.slug)).map((r: { id: string }) => r.id)).toContain(abusive.id);
    expect((await page(app.slug)).rating).toEqual({ average: 3, count: 2 });
    await operator.agent
      .post('/v1/admin/marketplace/reviews/rvw_nope/hide')
      .set('x-csrf-token', operator.csrf)
      .send({ reason: 'does not exist' })
      .expect(404);
  });

  it('lists reviews newest first, page by page', async () => {
    const app = await listedApp();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await customer(app, `Account ${i}`);
      ids.push(
        (await putReview(c.who, c.account.id, app.slug, { rating: 1 + i, body: `#${i}` }).expect(200)).body
          .id,
      );
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res: { body: any } = await plaza.http
        .get(`/v1/marketplace/apps/${app.slug}/reviews`)
        .query({ limit: 2, ...(cursor ? { cursor } : {}) })
        .expect(200);
      seen.push(...res.body.data.map((r: { id: string }) => r.id));
      cursor = res.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    expect((await page(app.slug)).rating).toEqual({ average: 3, count: 5 });
  });
});

describe('installations', () => {
  it('one active installation per account and app, with app.installed / app.uninstalled in the outbox', async () => {
    const app = await listedApp();
    const who = await signUp(plaza);
    const account = await createOrg(who, 'account', 'Tea House');
    const inst = await installListing(plaza, account.id, app.listing, who.user.id);
    expect(inst).toMatchObject({ accountId: account.id, appId: app.listing.appId, status: 'active' });
    expect(inst.id).toMatch(/^inst_/);
    expect(await plaza.core.installations.isActive(account.id, app.listing.appId)).toBe(true);
    await expect(installListing(plaza, account.id, app.listing, who.user.id)).rejects.toMatchObject({
      status: 409,
    });

    const listed = await who.agent.get(`/v1/organizations/${account.id}/installations`).expect(200);
    expect(listed.body.data).toEqual([expect.objectContaining({ id: inst.id, installedBy: who.user.id })]);
    // Only accounts have installations.
    const dev = await createOrg(who, 'developer');
    await who.agent.get(`/v1/organizations/${dev.id}/installations`).expect(403);

    await plaza.core.oauth.uninstallInstallation(
      { accountId: account.id, appId: app.listing.appId },
      SYSTEM_ACTOR,
      'uninstalled_by_account',
    );
    expect(await plaza.core.installations.isActive(account.id, app.listing.appId)).toBe(false);
    expect(
      (await who.agent.get(`/v1/organizations/${account.id}/installations`).expect(200)).body.data,
    ).toEqual([]);
    // Nothing active is left to close.
    expect(
      await plaza.core.oauth.uninstallInstallation(
        { accountId: account.id, appId: app.listing.appId },
        SYSTEM_ACTOR,
        'uninstalled_by_account',
      ),
    ).toBeUndefined();
    // Installing again opens a new installation.
    const again = await installListing(plaza, account.id, app.listing, who.user.id);
    expect(again.id).not.toBe(inst.id);

    const events = await plaza.core.db.query(
      'SELECT type, payload FROM events WHERE organization_id = $1 ORDER BY id',
      [account.id],
    );
    expect(events.map((e) => e.type)).toEqual([
      'organization.created',
      'app.installed',
      'app.uninstalled',
      'app.installed',
    ]);
    expect(events[1].payload).toMatchObject({ installationId: inst.id, appId: app.listing.appId });
  });

  it('an installation made in a transaction that rolls back leaves neither row nor event', async () => {
    const app = await listedApp();
    const accountId = 'acct_rolledback';
    await expect(
      plaza.core.db.transaction(async (tx) => {
        await plaza.core.installations.create(
          {
            accountId,
            appId: app.listing.appId,
            versionId: app.listing.versionId,
            grantedScopes: [],
            actor: SYSTEM_ACTOR,
          },
          tx,
        );
        throw new Error('the OAuth grant failed');
      }),
    ).rejects.toThrow('the OAuth grant failed');
    expect(await plaza.core.installations.isActive(accountId, app.listing.appId)).toBe(false);
    expect(await plaza.core.db.query('SELECT 1 FROM events WHERE organization_id = $1', [accountId])).toEqual(
      [],
    );
  });
});
