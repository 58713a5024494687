import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { person, registerApp, signUp, withInstalledApp } from '../helpers/world.ts';

/**
 * Development mode: a developer adds test users to a test account, so an
 * unreviewed app can try users:read and users:read_email there.
 */
let plaza: PlazaServer;
beforeAll(async () => {
  plaza = await startPlazaServer({ workers: false });
});
afterAll(() => plaza?.close());

describe('test users of a test account', () => {
  it('are people the app sees through users:read before any review', async () => {
    const app = await registerApp(plaza, {
      redirectUris: ['https://dev.example.com/callback'],
      scopes: [{ name: 'users:read' }, { name: 'users:read_email' }],
      live: false,
    });
    const dev = app.developerPerson;
    const testAccount = await plaza.core.organizations.createTestAccount(app.developer, { name: 'Sandbox' });
    const { agent, csrf } = await signIn(dev);
    const base = `/v1/organizations/${app.developer.org.id}/test-accounts/${testAccount.id}/test-users`;
    const ada = await agent
      .post(base)
      .set('x-csrf-token', csrf)
      .send({ name: 'Ada Tester', email: `ada.${Date.now()}@example.test` })
      .expect(201);
    expect(ada.body).toMatchObject({ name: 'Ada Tester', role: 'member' });
    const made = await agent
      .post(base)
      .set('x-csrf-token', csrf)
      .send({ name: 'Bo Tester', role: 'admin' })
      .expect(201);
    expect(made.body.email).toMatch(/@test-users\.invalid$/);

    const installed = await withInstalledApp(plaza, { app, owner: dev, account: { id: testAccount.id } });
    const users = await plaza.http.get('/v1/users').set(installed.as).expect(200);
    const byName = Object.fromEntries(users.body.data.map((u: { name: string }) => [u.name, u]));
    expect(byName['Ada Tester']).toMatchObject({ email: ada.body.email, role: 'member' });
    expect(byName['Bo Tester']).toMatchObject({ email: made.body.email, role: 'admin' });

    // Bad input is the developer's to fix; other people's accounts are not test accounts.
    const bad = await agent
      .post(base)
      .set('x-csrf-token', csrf)
      .send({ name: '', role: 'owner' })
      .expect(400);
    expect(bad.body.fields.map((f: { field: string }) => f.field).sort()).toEqual(['body.name', 'body.role']);
    await agent
      .post(base)
      .set('x-csrf-token', csrf)
      .send({ name: 'Ada Again', email: ada.body.email })
      .expect(409);
    const stranger = await person(plaza, 'Sam Stranger');
    const foreign = await plaza.core.organizations.create(stranger.actor, {
      name: 'Not Yours',
      kind: 'account',
    });
    await agent
      .post(base.replace(testAccount.id, foreign.id))
      .set('x-csrf-token', csrf)
      .send({ name: 'Intruder' })
      .expect(404);
    const outsider = await signUp(plaza);
    await outsider.agent.post(base).set('x-csrf-token', outsider.csrf).send({ name: 'X' }).expect(404);
  });
});

async function signIn(who: { email: string; password: string }) {
  const { default: supertest } = await import('supertest');
  const agent = supertest.agent(plaza.app.callback());
  const res = await agent
    .post('/v1/auth/login')
    .send({ email: who.email, password: who.password })
    .expect(200);
  return { agent, csrf: res.body.csrfToken as string };
}
