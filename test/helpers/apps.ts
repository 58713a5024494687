/**
 * The developer side of the app registry through the HTTP API: a signed-up
 * developer with an organization, a thin client for its apps, and an app whose
 * first version passes the automated checks.
 */
import { png } from './images.ts';
import type { TestPlaza } from './plaza.ts';
import { signUp, uniqueSlug } from './world.ts';

/** A developer: a person with a developer organization. */
export async function developer(plaza: Pick<TestPlaza, 'app'>) {
  const who = await signUp(plaza, { name: 'Dev Eloper' });
  const org = await who.agent
    .post('/v1/organizations')
    .set('x-csrf-token', who.csrf)
    .send({ name: `Dev Org ${Date.now()}${Math.random()}`, kind: 'developer' })
    .expect(201);
  return { ...who, orgId: org.body.id as string, orgName: org.body.name as string };
}
export type Developer = Awaited<ReturnType<typeof developer>>;

/** Thin API client for one developer's app. */
export function appClient(dev: Developer) {
  const base = `/v1/organizations/${dev.orgId}/apps`;
  const send = (method: 'post' | 'put' | 'patch' | 'delete', path: string) =>
    dev.agent[method](path).set('x-csrf-token', dev.csrf);
  return {
    base,
    create: (body: Record<string, unknown>) => send('post', base).send(body),
    get: (appId: string) => dev.agent.get(`${base}/${appId}`),
    version: (appId: string, versionId: string) => dev.agent.get(`${base}/${appId}/versions/${versionId}`),
    patch: (appId: string, versionId: string, body: Record<string, unknown>) =>
      send('patch', `${base}/${appId}/versions/${versionId}`).send(body),
    upload: (appId: string, versionId: string, kind: 'icon' | 'screenshots', type: string, bytes: Buffer) =>
      send(kind === 'icon' ? 'put' : 'post', `${base}/${appId}/versions/${versionId}/${kind}`)
        .set('content-type', type)
        .send(bytes),
    newVersion: (appId: string) => send('post', `${base}/${appId}/versions`),
    submit: (appId: string, versionId: string) =>
      send('post', `${base}/${appId}/versions/${versionId}/submit`),
    withdraw: (appId: string, versionId: string) =>
      send('post', `${base}/${appId}/versions/${versionId}/withdraw`),
    status: (appId: string, versionId: string) =>
      dev.agent.get(`${base}/${appId}/versions/${versionId}/status`),
    diff: (appId: string, versionId: string) => dev.agent.get(`${base}/${appId}/versions/${versionId}/diff`),
    send,
  };
}

export const LONG_DESCRIPTION =
  '## Sync contacts\n\nKeeps your contacts in step with your mailing lists, both ways, every few minutes. ' +
  'Unsubscribes flow back, duplicates are merged, and nothing is ever deleted without asking first.';

/** Everything the automated checks want, for a version that asks for contacts:read. */
export const COMPLETE_FIELDS = {
  description: LONG_DESCRIPTION,
  supportUrl: 'https://example.com/support',
  privacyUrl: 'https://example.com/privacy',
  termsUrl: 'https://example.com/terms',
  redirectUris: ['https://example.com/oauth/callback', 'http://localhost:8080/callback'],
  scopes: [{ name: 'contacts:read', justification: 'We copy contacts to your mailing lists.' }],
  webhookEvents: ['app.data_request', 'app.data_erasure'],
  pricing: { type: 'recurring', interval: 'month', amount: 900, currency: 'USD' },
};

/** Creates an app and makes its first version complete (icon, screenshot, fields). */
export async function completeApp(dev: Developer, name = 'Contact Sync') {
  const api = appClient(dev);
  const created = await api
    .create({ name, slug: uniqueSlug('sync'), tagline: 'Contacts to lists' })
    .expect(201);
  const appId = created.body.app.id as string;
  const versionId = created.body.version.id as string;
  await api.upload(appId, versionId, 'icon', 'image/png', png(128, 128)).expect(200);
  await api.upload(appId, versionId, 'screenshots', 'image/png', png(640, 400)).expect(200);
  await api.patch(appId, versionId, COMPLETE_FIELDS).expect(200);
  return { appId, versionId, api, created: created.body };
}

/** Polls the status until the version leaves `checking` (the checks job is asynchronous). */
export async function waitForChecks(api: ReturnType<typeof appClient>, appId: string, versionId: string) {
  for (let i = 0; i < 200; i++) {
    const res = await api.status(appId, versionId).expect(200);
    if (res.body.state !== 'checking') return res.body;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`version ${versionId} stayed in checking`);
}
