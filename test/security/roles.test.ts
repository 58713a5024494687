import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completeApp, type Developer, developer } from '../helpers/apps.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';

/**
 * Roles in a developer organization: members build versions and watch
 * webhooks; admins and owners submit and withdraw versions and manage
 * endpoints and their signing secrets. A member's API key acts as a member.
 */
let plaza: TestPlaza;
let dev: Developer;
let member: { authorization: string };
let adminKey: { authorization: string };
beforeAll(async () => {
  plaza = await startPlaza({ WEBHOOKS_ALLOW_PRIVATE: 'true' }, { workers: false });
  dev = await developer(plaza);
  const key = async (role: string) => {
    const res = await dev.agent
      .post(`/v1/organizations/${dev.orgId}/api-keys`)
      .set('x-csrf-token', dev.csrf)
      .send({ name: `${role} key`, role })
      .expect(201);
    return { authorization: `Bearer ${res.body.secret}` };
  };
  member = await key('member');
  adminKey = await key('admin');
});
afterAll(() => plaza.close());

describe('developer organization roles', () => {
  it('members cannot submit or withdraw versions, admins can', async () => {
    const { appId, versionId, api } = await completeApp(dev);
    const base = `${api.base}/${appId}/versions/${versionId}`;
    const refused = await plaza.http.post(`${base}/submit`).set(member).expect(403);
    expect(refused.body.detail).toMatch(/admin role/);
    await plaza.http.get(`${base}/status`).set(member).expect(200);
    await plaza.http.patch(base).set(member).send({ tagline: 'Members edit drafts' }).expect(200);
    await plaza.http.post(`${base}/submit`).set(adminKey).expect(200);
    await plaza.http.post(`${base}/withdraw`).set(member).expect(403);
    await plaza.http.post(`${base}/withdraw`).set(adminKey).expect(200);
  });

  it('members see webhook endpoints but not their secrets, and cannot change or delete them', async () => {
    const { appId } = await completeApp(dev);
    const hooks = `${appClientBase()}/${appId}/webhook-endpoints`;
    await plaza.http.post(hooks).set(member).send({ url: 'http://127.0.0.1:9/hook' }).expect(403);
    const created = await plaza.http
      .post(hooks)
      .set(adminKey)
      .send({ url: 'http://127.0.0.1:9/hook' })
      .expect(201);
    const one = `${hooks}/${created.body.endpoint.id}`;
    await plaza.http.get(hooks).set(member).expect(200);
    await plaza.http.get(one).set(member).expect(200);
    const list = await plaza.http.get(one).set(member).expect(200);
    expect(JSON.stringify(list.body)).not.toContain('whsec_');
    for (const [method, path, body] of [
      ['get', `${one}/secret`, undefined],
      ['post', `${one}/secret/rotate`, {}],
      ['patch', one, { description: 'mine now' }],
      ['delete', one, undefined],
    ] as const) {
      const res = await (plaza.http as any)[method](path).set(member).send(body);
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(res.body.code).toBe('PLAZA_FORBIDDEN');
    }
    const secret = await plaza.http.get(`${one}/secret`).set(adminKey).expect(200);
    expect(JSON.stringify(secret.body)).toContain('whsec_');
    await plaza.http.delete(one).set(adminKey).expect(204);
  });
});

const appClientBase = () => `/v1/organizations/${dev.orgId}/apps`;
