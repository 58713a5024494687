import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizePhone } from '../../server/modules/contacts/schemas.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signUp } from '../helpers/world.ts';

let plaza: TestPlaza;
let ann: SignedIn;
let account: { id: string; name: string };

beforeAll(async () => {
  plaza = await startPlaza({ PLAZA_CONTACTS_MAX_PER_ACCOUNT: '60' }, { workers: false });
  ann = await signUp(plaza, { name: 'Ann Owner' });
  account = await createOrg(ann, 'account', 'Corner Bakery');
});
afterAll(() => plaza.close());

const base = (orgId = account.id) => `/v1/organizations/${orgId}/contacts`;

function create(body: Record<string, unknown>, who = ann, orgId = account.id) {
  return who.agent.post(base(orgId)).set('x-csrf-token', who.csrf).send(body);
}

async function eventsOf(type: string, contactId: string) {
  return plaza.core.db.query(
    `SELECT type, organization_id, payload FROM events
     WHERE type = $1 AND (payload->'contact'->>'id' = $2 OR payload->>'contactId' = $2) ORDER BY id`,
    [type, contactId],
  );
}

/** Every page of a list, following nextCursor. */
async function all(query: Record<string, string | number>, who = ann, orgId = account.id) {
  const out: any[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 50; i++) {
    const res = await who.agent
      .get(base(orgId))
      .query({ ...query, ...(cursor ? { cursor } : {}) })
      .expect(200);
    out.push(...res.body.data);
    cursor = res.body.nextCursor ?? undefined;
    if (!cursor) return out;
  }
  throw new Error('too many pages');
}

describe('phone numbers', () => {
  it('normalises what people type to E.164 and refuses numbers without a country code', () => {
    expect(normalizePhone('+1 (555) 123-4567')).toBe('+15551234567');
    expect(normalizePhone('+44 20 7946 0958')).toBe('+442079460958');
    expect(normalizePhone('0049 30 1234567')).toBe('+49301234567');
    expect(normalizePhone('555 1234')).toBeUndefined();
    expect(normalizePhone('+0 555 1234567')).toBeUndefined();
    expect(normalizePhone('+1 555 CALL NOW')).toBeUndefined();
    expect(normalizePhone('+1234567890123456')).toBeUndefined();
  });
});

describe('contacts for people', () => {
  it('creates, reads, changes and deletes a contact, normalising email, phone and tags', async () => {
    const res = await create({
      name: '  Rosa Diaz ',
      email: 'Rosa.Diaz@Example.COM',
      phone: '+1 (555) 010-2000',
      tags: ['VIP', 'vip', ' Wholesale '],
      customFields: { birthday: '1990-04-01', orders: 3, newsletter: true },
    }).expect(201);
    const c = res.body;
    expect(c).toMatchObject({
      accountId: account.id,
      name: 'Rosa Diaz',
      email: 'rosa.diaz@example.com',
      phone: '+15550102000',
      tags: ['vip', 'wholesale'],
      customFields: { birthday: '1990-04-01', orders: 3, newsletter: true },
      createdBy: { type: 'user', userId: ann.user.id, name: 'Ann Owner' },
      updatedBy: { type: 'user', userId: ann.user.id },
    });
    expect(c.id).toMatch(/^ct_/);

    const got = await ann.agent.get(`${base()}/${c.id}`).expect(200);
    expect(got.body).toEqual(c);

    // A partial change: only the fields sent; custom fields merge, null removes a key.
    const patched = await ann.agent
      .patch(`${base()}/${c.id}`)
      .set('x-csrf-token', ann.csrf)
      .send({ phone: '+1 555 010 2001', customFields: { orders: 4, newsletter: null, tier: 'gold' } })
      .expect(200);
    expect(patched.body).toMatchObject({
      name: 'Rosa Diaz',
      email: 'rosa.diaz@example.com',
      phone: '+15550102001',
      tags: ['vip', 'wholesale'],
      customFields: { birthday: '1990-04-01', orders: 4, tier: 'gold' },
    });
    expect(patched.body.customFields).not.toHaveProperty('newsletter');
    expect(Date.parse(patched.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(c.updatedAt));

    // Clearing: null or '' empties email and phone; the name keeps the contact identifiable.
    const cleared = await ann.agent
      .patch(`${base()}/${c.id}`)
      .set('x-csrf-token', ann.csrf)
      .send({ email: null, phone: '' })
      .expect(200);
    expect(cleared.body).toMatchObject({ email: null, phone: null, name: 'Rosa Diaz' });

    await ann.agent.delete(`${base()}/${c.id}`).set('x-csrf-token', ann.csrf).expect(204);
    await ann.agent.get(`${base()}/${c.id}`).expect(404);
    await ann.agent.delete(`${base()}/${c.id}`).set('x-csrf-token', ann.csrf).expect(404);
  });

  it('refuses bad input with a 400 naming each field', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ name: 'X', email: 'not-an-email' }, 'body.email'],
      [{ name: 'X', phone: '555 1234' }, 'body.phone'],
      [{ name: 'X', phone: '+1 555 CALL NOW' }, 'body.phone'],
      [{ name: 'X', tags: Array.from({ length: 21 }, (_, i) => `t${i}`) }, 'body.tags'],
      [{ name: 'X', tags: ['a,b'] }, 'body.tags.0'],
      [{ name: 'X', tags: ['x'.repeat(41)] }, 'body.tags.0'],
      [{ name: 'X', tags: [''] }, 'body.tags.0'],
      [{ name: 'X', customFields: { 'bad key': 1 } }, 'body.customFields.bad key'],
      [{ name: 'X', customFields: { nested: { a: 1 } } }, 'body.customFields.nested'],
      [{ name: 'X', customFields: { long: 'x'.repeat(2001) } }, 'body.customFields.long'],
      [{ name: 'x'.repeat(201) }, 'body.name'],
      [{ name: 'X', favourite: 'colour' }, 'body'],
      [{}, 'body.name'],
      [{ name: '   ', email: '' }, 'body.name'],
    ];
    for (const [body, field] of cases) {
      const res = await create(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.code).toBe('PLAZA_VALIDATION');
      expect(
        res.body.fields.map((f: { field: string }) => f.field),
        JSON.stringify(body),
      ).toContain(field);
    }
    // Custom fields are bounded in keys and in bytes.
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i]));
    const tooMany = await create({ name: 'X', customFields: many }).expect(400);
    expect(tooMany.body.fields[0]).toMatchObject({ field: 'body.customFields' });
    expect(tooMany.body.fields[0].reason).toContain('at most 50 keys');
    const big = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'x'.repeat(1900)]));
    const tooBig = await create({ name: 'X', customFields: big }).expect(400);
    expect(tooBig.body.fields[0].reason).toContain('bytes of JSON');
    // A change that would leave the contact without name, email or phone.
    const only = await create({ email: 'only.email@example.com' }).expect(201);
    const emptied = await ann.agent
      .patch(`${base()}/${only.body.id}`)
      .set('x-csrf-token', ann.csrf)
      .send({ email: null })
      .expect(400);
    expect(emptied.body.fields.map((f: { field: string }) => f.field)).toContain('body.email');
    // Query validation.
    const badTag = await ann.agent
      .get(base())
      .query({ tags: `ok,${'y'.repeat(41)}` })
      .expect(400);
    expect(badTag.body.fields[0].field).toBe('query.tags');
    const badSort = await ann.agent.get(base()).query({ sort: 'email' }).expect(400);
    expect(badSort.body.fields[0].field).toBe('query.sort');
  });

  it('keeps one contact per email in an account (409 naming the field and the other contact)', async () => {
    const first = await create({ name: 'Dup One', email: 'dup@example.com' }).expect(201);
    const again = await create({ name: 'Dup Two', email: 'DUP@example.com' }).expect(409);
    expect(again.body).toMatchObject({
      code: 'PLAZA_CONFLICT',
      fields: [{ field: 'body.email' }],
      contactId: first.body.id,
    });
    const other = await create({ name: 'Other', email: 'other@example.com' }).expect(201);
    await ann.agent
      .patch(`${base()}/${other.body.id}`)
      .set('x-csrf-token', ann.csrf)
      .send({ name: 'Renamed', email: 'dup@example.com' })
      .expect(409);
    // The refused change left nothing behind: same contact, no event.
    const still = await ann.agent.get(`${base()}/${other.body.id}`).expect(200);
    expect(still.body).toMatchObject({ name: 'Other', email: 'other@example.com' });
    expect(await eventsOf('contact.updated', other.body.id)).toHaveLength(0);
    // Another account may have the same address.
    const bob = await signUp(plaza);
    const elsewhere = await createOrg(bob, 'account');
    await create({ email: 'dup@example.com' }, bob, elsewhere.id).expect(201);
  });

  it('emits contact.created/updated/deleted with the change, and nothing when it rolls back', async () => {
    const created = await create({ name: 'Evan Event', tags: ['lead'] }).expect(201);
    const id = created.body.id;
    const [ev] = await eventsOf('contact.created', id);
    expect(ev.organization_id).toBe(account.id);
    expect(ev.payload).toMatchObject({
      accountId: account.id,
      contact: { id, name: 'Evan Event', tags: ['lead'], email: null },
      source: { type: 'user', userId: ann.user.id },
    });

    await ann.agent
      .patch(`${base()}/${id}`)
      .set('x-csrf-token', ann.csrf)
      .send({ name: 'Evan Event', tags: ['lead', 'customer'] })
      .expect(200);
    // Sending the same values again changes nothing and emits nothing.
    await ann.agent
      .patch(`${base()}/${id}`)
      .set('x-csrf-token', ann.csrf)
      .send({ tags: ['lead', 'customer'] })
      .expect(200);
    const updates = await eventsOf('contact.updated', id);
    expect(updates).toHaveLength(1);
    expect(updates[0].payload).toMatchObject({
      changed: ['tags'],
      contact: { id, tags: ['lead', 'customer'] },
    });

    await ann.agent.delete(`${base()}/${id}`).set('x-csrf-token', ann.csrf).expect(204);
    const [deleted] = await eventsOf('contact.deleted', id);
    expect(deleted.payload).toEqual({
      accountId: account.id,
      contactId: id,
      source: { type: 'user', userId: ann.user.id },
    });

    // A create refused inside its transaction (duplicate email) leaves no contact and no event.
    await create({ name: 'Rolled', email: 'rollback@example.com' }).expect(201);
    const before = await plaza.core.db.one<{ n: number }>(
      "SELECT count(*)::int AS n FROM events WHERE type = 'contact.created'",
    );
    await create({ name: 'Rolled Back', email: 'rollback@example.com' }).expect(409);
    const after = await plaza.core.db.one<{ n: number }>(
      "SELECT count(*)::int AS n FROM events WHERE type = 'contact.created'",
    );
    expect(after.n).toBe(before.n);
    const types = plaza.core.events.types().filter((t) => t.type.startsWith('contact.'));
    expect(types.map((t) => [t.type, t.scope])).toEqual([
      ['contact.created', 'contacts:read'],
      ['contact.deleted', 'contacts:read'],
      ['contact.updated', 'contacts:read'],
    ]);
  });

  it("records people's changes in the account's audit log, with the API key when one was used", async () => {
    const c = await create({ name: 'Audited Person' }).expect(201);
    await ann.agent
      .patch(`${base()}/${c.body.id}`)
      .set('x-csrf-token', ann.csrf)
      .send({ email: 'audited@example.com' })
      .expect(200);
    const key = await ann.agent
      .post(`/v1/organizations/${account.id}/api-keys`)
      .set('x-csrf-token', ann.csrf)
      .send({ name: 'crm sync', role: 'member' })
      .expect(201);
    await plaza.http
      .delete(`${base()}/${c.body.id}`)
      .set('Authorization', `Bearer ${key.body.secret}`)
      .expect(204);
    const log = await ann.agent.get(`/v1/organizations/${account.id}/audit-log`).expect(200);
    const entries = log.body.data.filter((e: { targetId: string }) => e.targetId === c.body.id);
    expect(entries.map((e: { action: string }) => e.action)).toEqual([
      'contact.deleted',
      'contact.updated',
      'contact.created',
    ]);
    expect(entries[0]).toMatchObject({ actorUserId: ann.user.id, actorApiKeyId: key.body.apiKey.id });
    expect(entries[1]).toMatchObject({ actorUserId: ann.user.id, data: { changed: ['email'] } });
  });

  it('searches name, email and phone, filters by tags, and pages through each sort order', async () => {
    const mine = await createOrg(ann, 'account', 'Search Co');
    const people = [
      { name: 'Alice Archer', email: 'alice@archery.test', phone: '+15551110001', tags: ['lead'] },
      { name: 'bob builder', email: 'bob@build.test', phone: '+15551110002', tags: ['lead', 'vip'] },
      { name: 'Carla Cruz', email: 'carla@cruz.test', phone: '+442079460958', tags: ['vip'] },
      { name: 'Dan 100% Real_Name', email: null, phone: '+15551110004', tags: [] },
      { name: 'Émile Zola', email: 'emile@zola.test', tags: ['vip', 'author'] },
    ];
    const ids: string[] = [];
    for (const p of people) ids.push((await create(p, ann, mine.id).expect(201)).body.id);
    for (let i = 0; i < 7; i++) await create({ name: `Filler ${i}` }, ann, mine.id).expect(201);

    const names = async (q: Record<string, string>) => (await all(q, ann, mine.id)).map((c) => c.name).sort();
    expect(await names({ q: 'ALI' })).toEqual(['Alice Archer']);
    expect(await names({ q: 'build.test' })).toEqual(['bob builder']);
    expect(await names({ q: '+44 20 7946' })).toEqual(['Carla Cruz']);
    expect(await names({ q: '555-111-0004' })).toEqual(['Dan 100% Real_Name']);
    expect(await names({ q: '555111000' })).toEqual(['Alice Archer', 'Dan 100% Real_Name', 'bob builder']);
    // LIKE wildcards are plain text.
    expect(await names({ q: '100%' })).toEqual(['Dan 100% Real_Name']);
    expect(await names({ q: '_' })).toEqual(['Dan 100% Real_Name']);
    expect(await names({ q: '%' })).toEqual(['Dan 100% Real_Name']);
    expect(await names({ q: "'; DROP TABLE contacts; --" })).toEqual([]);
    expect(await names({ tags: 'vip' })).toEqual(['Carla Cruz', 'bob builder', 'Émile Zola'].sort());
    expect(await names({ tags: 'VIP, lead' })).toEqual(['bob builder']);
    expect(await names({ tags: 'vip', q: 'zola' })).toEqual(['Émile Zola']);
    expect(await names({ tags: 'nobody' })).toEqual([]);

    // Every sort order visits each contact once, in order, across pages of 5.
    const newest = await all({ limit: 5 }, ann, mine.id);
    expect(newest).toHaveLength(12);
    expect(newest.map((c) => c.id)).toEqual([...newest.map((c) => c.id)].sort().reverse());
    const byName = await all({ limit: 5, sort: 'name' }, ann, mine.id);
    expect(byName).toHaveLength(12);
    expect(byName[0].name).toBe('Alice Archer');
    expect(new Set(byName.map((c) => c.id)).size).toBe(12);
    // Touch one: it moves to the front of the most-recently-updated order.
    await ann.agent
      .patch(`${base(mine.id)}/${ids[0]}`)
      .set('x-csrf-token', ann.csrf)
      .send({ tags: ['lead', 'called'] })
      .expect(200);
    const byUpdate = await all({ limit: 5, sort: 'updated' }, ann, mine.id);
    expect(byUpdate).toHaveLength(12);
    expect(byUpdate[0].id).toBe(ids[0]);
    expect(new Set(byUpdate.map((c) => c.id)).size).toBe(12);
    const stamps = byUpdate.map((c) => Date.parse(c.updatedAt));
    expect(stamps).toEqual([...stamps].sort((a, b) => b - a));

    // A cursor of one order is refused by another.
    const first = await ann.agent.get(base(mine.id)).query({ limit: 2, sort: 'name' }).expect(200);
    const wrong = await ann.agent
      .get(base(mine.id))
      .query({ sort: 'updated', cursor: first.body.nextCursor })
      .expect(400);
    expect(wrong.body.fields[0].field).toBe('query.cursor');
  });

  it('belongs to the account: other organizations get 404, non-accounts 403, agency admins reach sub-accounts', async () => {
    const c = await create({ name: 'Private Person', email: 'private@example.com' }).expect(201);
    const eve = await signUp(plaza);
    const evesAccount = await createOrg(eve, 'account');
    // Eve's own account exists, but A's contact id is not in it.
    await eve.agent.get(`${base(evesAccount.id)}/${c.body.id}`).expect(404);
    await eve.agent
      .patch(`${base(evesAccount.id)}/${c.body.id}`)
      .set('x-csrf-token', eve.csrf)
      .send({ name: 'Stolen' })
      .expect(404);
    await eve.agent
      .delete(`${base(evesAccount.id)}/${c.body.id}`)
      .set('x-csrf-token', eve.csrf)
      .expect(404);
    await eve.agent.get(`${base()}/${c.body.id}`).expect(404);
    const list = await eve.agent.get(base(evesAccount.id)).expect(200);
    expect(JSON.stringify(list.body)).not.toContain('private@example.com');
    // Developer organizations and agencies have no contacts.
    const dev = await createOrg(eve, 'developer');
    const res = await eve.agent.get(base(dev.id)).expect(403);
    expect(res.body.detail).toContain('account');
    // An agency admin manages the contacts of its sub-accounts.
    const agency = await createOrg(eve, 'agency');
    const sub = await eve.agent
      .post(`/v1/organizations/${agency.id}/sub-accounts`)
      .set('x-csrf-token', eve.csrf)
      .send({ name: 'Client Shop' })
      .expect(201);
    await create({ name: 'Sub Contact' }, eve, sub.body.id).expect(201);
    expect((await all({}, eve, sub.body.id)).map((x) => x.name)).toEqual(['Sub Contact']);
  });

  it('stops creating at the soft limit per account', async () => {
    const bob = await signUp(plaza);
    const full = await createOrg(bob, 'account');
    await plaza.core.db.query(
      `INSERT INTO contacts (id, organization_id, name, created_by, updated_by)
       SELECT 'ct_fill_' || i, $1, 'Fill ' || i, '{"type":"system"}', '{"type":"system"}'
       FROM generate_series(1, 60) i`,
      [full.id],
    );
    const res = await create({ name: 'One too many' }, bob, full.id).expect(409);
    expect(res.body.detail).toContain('limit of 60 contacts');
    // Seeded rows read back with a system author.
    const one = await bob.agent.get(`${base(full.id)}/ct_fill_1`).expect(200);
    expect(one.body.createdBy).toEqual({ type: 'system' });
  });
});
