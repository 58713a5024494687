import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signUp } from '../helpers/world.ts';

/**
 * NUL bytes and ill-formed Unicode are refused where requests come in: the
 * database cannot store U+0000 in text, and a lone surrogate breaks jsonb.
 */
let plaza: TestPlaza;
let who: SignedIn;
let orgId: string;
beforeAll(async () => {
  plaza = await startPlaza();
  who = await signUp(plaza);
  orgId = (await createOrg(who, 'account')).id;
});
afterAll(() => plaza.close());

function expectRefused(
  res: { status: number; headers: Record<string, string>; body: any },
  field: string,
  reason = /NUL|Unicode|surrogate|nested/,
) {
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
  expect(res.body.code).toBe('PLAZA_VALIDATION');
  const hit = res.body.fields.find(
    (f: { field: string }) => f.field === field || f.field.startsWith(`${field}.`),
  );
  expect(hit, JSON.stringify(res.body.fields)).toBeDefined();
  expect(hit.reason).toMatch(reason);
}

const send = (method: 'post' | 'patch', path: string, body: string) =>
  who.agent[method](path).set('x-csrf-token', who.csrf).set('content-type', 'application/json').send(body);

describe('the edge refuses NUL bytes and ill-formed Unicode', () => {
  it('in query strings, on anonymous routes too', async () => {
    expectRefused(await plaza.http.get('/v1/marketplace/apps?q=%00'), 'query.q');
    // A bad key is reported on its object, with the reason.
    expectRefused(await plaza.http.get('/v1/marketplace/apps?q=ok&%00=1'), 'query', /key/);
  });

  it('in path parameters', async () => {
    expectRefused(await who.agent.get('/v1/organizations/%00/contacts'), 'path.orgId');
    expectRefused(await who.agent.get(`/v1/organizations/${orgId}/contacts/a%00b`), 'path.contactId');
  });

  it('in every string of a JSON body, keys included, however deep', async () => {
    const contacts = `/v1/organizations/${orgId}/contacts`;
    expectRefused(await send('post', contacts, '{"name":"a\\u0000b"}'), 'body.name');
    expectRefused(await send('post', contacts, '{"name":"\\ud800"}'), 'body.name');
    expectRefused(await send('post', contacts, '{"tags":["ok","x\\udfff"]}'), 'body.tags.1');
    expectRefused(
      await send('post', contacts, '{"customFields":{"k\\u0000":"v"}}'),
      'body.customFields',
      /key/,
    );
    expectRefused(
      await send('post', '/v1/organizations', '{"name":"Shop \\ud83d","kind":"account"}'),
      'body.name',
    );
    // A well-formed pair is fine.
    await send('post', contacts, '{"name":"Ada \\ud83d\\ude00"}').expect(201);
    expect((await who.agent.get(contacts)).body.data.map((c: { name: string }) => c.name)).toEqual([
      'Ada \u{1F600}',
    ]);
  });

  it('nesting too deep is a 400, not a crash', async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    expectRefused(
      await send('post', `/v1/organizations/${orgId}/contacts`, `{"customFields":${deep}}`),
      'body.customFields',
    );
  });

  it('in the OAuth pages as well (the last line of defence maps the database error to 400)', async () => {
    const res = await plaza.http.get('/oauth/auth?client_id=%00&response_type=code&scope=openid');
    expect(res.status).toBeLessThan(500);
  });
});
