/**
 * GET /v1/admin/apps: platform admins see every app (any developer, any
 * status), filtered by status and by words in its address or name, page by
 * page. Reviewers and ordinary people are refused.
 */
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { registerApp, type SignedIn, signInWithPlatformRole, type TestApp } from '../helpers/world.ts';

let plaza: PlazaServer;
let admin: SignedIn;
let rota: TestApp; // live, with a version 2 in draft
let sync: TestApp; // never reviewed: version 1 in draft
let gone: TestApp; // live, then suspended
let hidden: TestApp; // live, then unpublished by its developer
let deal: TestApp; // a name with LIKE wildcards in it
const slugOf = new Map<string, string>();

beforeAll(async () => {
  plaza = await startPlazaServer();
  const redirectUris = ['https://example.com/callback'];
  rota = await registerApp(plaza, { name: 'Rota Planner', redirectUris });
  await plaza.core.apps.createVersion(rota.developer, rota.appId);
  sync = await registerApp(plaza, { name: 'Contact Sync', redirectUris, live: false });
  gone = await registerApp(plaza, { name: 'Lead Scraper', redirectUris });
  hidden = await registerApp(plaza, { name: 'Old Invoices', redirectUris });
  await plaza.core.apps.unpublish(hidden.developer, hidden.appId, 'Replaced by Invoices 2');
  deal = await registerApp(plaza, { name: '100%_Off Coupons', redirectUris });
  for (const a of [rota, sync, gone, hidden, deal])
    slugOf.set(a.appId, (await plaza.core.apps.get(a.developer, a.appId)).slug);
  admin = await signInWithPlatformRole(plaza, 'admin');
  await admin.agent
    .post(`/v1/admin/apps/${gone.appId}/suspend`)
    .set('x-csrf-token', admin.csrf)
    .send({ reason: 'Copies contacts to a third party' })
    .expect(200);
}, 60_000);
afterAll(() => plaza?.close());

const list = (who: SignedIn, query: Record<string, string | number> = {}) =>
  who.agent.get('/v1/admin/apps').query(query);
const ids = (body: { data: Array<{ id: string }> }) => body.data.map((a) => a.id);

describe('GET /v1/admin/apps', () => {
  it('lists every app of every developer, newest first, with its developer, status and versions', async () => {
    const res = await list(admin).expect(200);
    expect(ids(res.body)).toEqual([deal, hidden, gone, sync, rota].map((a) => a.appId));
    expect(res.body.nextCursor).toBeNull();
    const byId = new Map(res.body.data.map((a: { id: string }) => [a.id, a]));
    expect(byId.get(rota.appId)).toEqual({
      id: rota.appId,
      slug: slugOf.get(rota.appId),
      name: 'Rota Planner',
      developer: { organizationId: rota.developer.org.id, name: rota.developer.org.name },
      status: 'active',
      statusReason: null,
      statusChangedAt: null,
      liveVersion: { id: rota.versionId, number: 1, state: 'live' },
      openVersion: { id: expect.any(String), number: 2, state: 'draft' },
      createdAt: expect.any(String),
    });
    expect(byId.get(sync.appId)).toMatchObject({
      status: 'active',
      liveVersion: null,
      openVersion: { id: sync.versionId, number: 1, state: 'draft' },
    });
    expect(byId.get(gone.appId)).toMatchObject({
      status: 'suspended',
      statusReason: 'Copies contacts to a third party',
      statusChangedAt: expect.any(String),
      liveVersion: { number: 1 },
      openVersion: null,
    });
    expect(byId.get(hidden.appId)).toMatchObject({
      status: 'unpublished',
      statusReason: 'Replaced by Invoices 2',
      developer: { name: hidden.developer.org.name },
    });
  });

  it('filters by status', async () => {
    expect(ids((await list(admin, { status: 'suspended' }).expect(200)).body)).toEqual([gone.appId]);
    expect(ids((await list(admin, { status: 'unpublished' }).expect(200)).body)).toEqual([hidden.appId]);
    expect(ids((await list(admin, { status: 'active' }).expect(200)).body)).toEqual(
      [deal, sync, rota].map((a) => a.appId),
    );
    // Reinstated, it is active again and its reason is gone.
    await admin.agent
      .post(`/v1/admin/apps/${gone.appId}/reinstate`)
      .set('x-csrf-token', admin.csrf)
      .expect(200);
    expect(ids((await list(admin, { status: 'suspended' }).expect(200)).body)).toEqual([]);
    const back = (await list(admin, { status: 'active' }).expect(200)).body.data;
    expect(back.find((a: { id: string }) => a.id === gone.appId)).toMatchObject({ statusReason: null });
    await admin.agent
      .post(`/v1/admin/apps/${gone.appId}/suspend`)
      .set('x-csrf-token', admin.csrf)
      .send({ reason: 'Copies contacts to a third party' })
      .expect(200);
  });

  it('finds apps by words in the name or the address, any case, with the status filter too', async () => {
    expect(ids((await list(admin, { q: 'rota pl' }).expect(200)).body)).toEqual([rota.appId]);
    expect(ids((await list(admin, { q: 'SCRAPER' }).expect(200)).body)).toEqual([gone.appId]);
    const slug = slugOf.get(sync.appId)!;
    expect(ids((await list(admin, { q: slug }).expect(200)).body)).toEqual([sync.appId]);
    expect(ids((await list(admin, { q: 'oauth-app', status: 'suspended' }).expect(200)).body)).toEqual([
      gone.appId,
    ]);
    expect(ids((await list(admin, { q: 'Rota', status: 'suspended' }).expect(200)).body)).toEqual([]);
    // % and _ are not wildcards.
    expect(ids((await list(admin, { q: '%_' }).expect(200)).body)).toEqual([deal.appId]);
    expect(ids((await list(admin, { q: '_' }).expect(200)).body)).toEqual([deal.appId]);
    expect(ids((await list(admin, { q: 'no such app' }).expect(200)).body)).toEqual([]);
    // Blank words find everything.
    expect((await list(admin, { q: '  ' }).expect(200)).body.data).toHaveLength(5);
  });

  it('pages with a cursor, each app once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const query: Record<string, string | number> = cursor ? { limit: 2, cursor } : { limit: 2 };
      const res = await list(admin, query).expect(200);
      expect(res.body.data.length).toBeLessThanOrEqual(2);
      seen.push(...ids(res.body));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([deal, hidden, gone, sync, rota].map((a) => a.appId));
    // Filters hold across pages.
    const first = await list(admin, { status: 'active', limit: 1 }).expect(200);
    const second = await list(admin, { status: 'active', limit: 2, cursor: first.body.nextCursor }).expect(
      200,
    );
    expect([...ids(first.body), ...ids(second.body)]).toEqual([deal, sync, rota].map((a) => a.appId));
    expect(second.body.nextCursor).toBeNull();
  });

  it('names the bad query field', async () => {
    const status = await list(admin, { status: 'deleted' }).expect(400);
    expect(status.body.fields.map((f: { field: string }) => f.field)).toEqual(['query.status']);
    const cursor = await list(admin, { cursor: 'nonsense' }).expect(400);
    expect(cursor.body.fields.map((f: { field: string }) => f.field)).toEqual(['query.cursor']);
    const limit = await list(admin, { limit: 1000 }).expect(400);
    expect(limit.body.fields.map((f: { field: string }) => f.field)).toEqual(['query.limit']);
  });

  it('refuses reviewers and people without a platform role; asks strangers to sign in', async () => {
    const reviewer = await signInWithPlatformRole(plaza, 'reviewer');
    expect((await list(reviewer).expect(403)).body.detail).toContain('admin');
    // The owner of a developer organization is no platform admin.
    const dev = supertest.agent(plaza.app.callback());
    const { email, password } = rota.developerPerson;
    await dev.post('/v1/auth/login').send({ email, password }).expect(200);
    await dev.get('/v1/admin/apps').expect(403);
    await plaza.http.get('/v1/admin/apps').expect(401);
  });
});
