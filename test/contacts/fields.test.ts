import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signUp } from '../helpers/world.ts';

/** Typed contact custom fields and ready-made tags of an account, over HTTP on real PostgreSQL. */
let plaza: TestPlaza;
let ann: SignedIn;
let bob: SignedIn;
let account: { id: string };

beforeAll(async () => {
  plaza = await startPlaza({}, { workers: false });
  ann = await signUp(plaza, { name: 'Ann Owner' });
  bob = await signUp(plaza, { name: 'Bob Other' });
  account = await createOrg(ann, 'account', 'Smile Dental');
});
afterAll(() => plaza.close());

const post = (path: string, body: unknown, who = ann) =>
  who.agent
    .post(`/v1/organizations/${account.id}${path}`)
    .set('x-csrf-token', who.csrf)
    .send(body as object);

describe('contact custom fields', () => {
  it('an admin defines typed fields; the list shows them in order', async () => {
    await post('/contact-fields', { key: 'lastVisit', label: 'Last visit', type: 'date' }).expect(201);
    await post('/contact-fields', { key: 'visits', label: 'Visits', type: 'number' }).expect(201);
    await post('/contact-fields', {
      key: 'insurance',
      label: 'Insurance',
      type: 'select',
      options: ['Delta', 'Aetna'],
    }).expect(201);
    const list = await ann.agent.get(`/v1/organizations/${account.id}/contact-fields`).expect(200);
    expect(list.body.data.map((f: { key: string; type: string }) => [f.key, f.type])).toEqual([
      ['lastVisit', 'date'],
      ['visits', 'number'],
      ['insurance', 'select'],
    ]);
  });

  it('refuses a bad definition with the field path, and a second field with the same key', async () => {
    const bad = await post('/contact-fields', { key: '9x', label: '', type: 'select' }).expect(400);
    const fields = bad.body.fields.map((f: { field: string }) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['body.key', 'body.label', 'body.options']));
    const dup = await post('/contact-fields', { key: 'visits', label: 'Visits', type: 'text' }).expect(409);
    expect(dup.body.fields).toEqual([{ field: 'body.key', reason: 'already defined' }]);
  });

  it('contact writes are checked against the types, naming each failing key', async () => {
    const res = await post('/contacts', {
      name: 'Pat',
      customFields: { visits: 'three', lastVisit: '2026-13-45', insurance: 'Cigna', free: 'any' },
    }).expect(400);
    expect(res.body.fields.map((f: { field: string }) => f.field).sort()).toEqual([
      'body.customFields.insurance',
      'body.customFields.lastVisit',
      'body.customFields.visits',
    ]);
    const ok = await post('/contacts', {
      name: 'Pat',
      customFields: { visits: 3, lastVisit: '2026-11-02', insurance: 'Delta', free: 'any' },
    }).expect(201);
    expect(ok.body.sample).toBe(false);
    await ann.agent
      .patch(`/v1/organizations/${account.id}/contacts/${ok.body.id}`)
      .set('x-csrf-token', ann.csrf)
      .send({ customFields: { visits: true } })
      .expect(400);
  });

  it('tags: ready-made ones and the ones in use, with counts', async () => {
    await post('/contact-tags', { name: 'New Patient' }).expect(201);
    await post('/contacts', { name: 'Kim', tags: ['recall-due'] }).expect(201);
    const tags = await ann.agent.get(`/v1/organizations/${account.id}/contact-tags`).expect(200);
    expect(tags.body.data).toEqual([
      { name: 'new patient', contacts: 0 },
      { name: 'recall-due', contacts: 1 },
    ]);
  });

  it('another person gets 404 and cannot define fields in the account', async () => {
    await bob.agent.get(`/v1/organizations/${account.id}/contact-fields`).expect(404);
    await post('/contact-fields', { key: 'x', label: 'X', type: 'text' }, bob).expect(404);
  });
});
