import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContactViewer, ReceivedWebhook } from '../../sdk/examples/contact-viewer/app.ts';
import { signWebhook } from '../../sdk/src/index.ts';
import type { OrgContext } from '../../server/tenancy.ts';
import { type RunningViewer, startContactViewer } from '../helpers/contact-viewer.ts';
import { browserAgent, installByConsent } from '../helpers/oauth.ts';
import type { PlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { startWebhooksPlaza } from '../helpers/webhooks.ts';
import { account, type Person, person, type TestApp } from '../helpers/world.ts';

/**
 * The SDK's example app receiving Plaza's webhooks, end to end: a real core
 * that may deliver to loopback, the contact viewer on another port. The app
 * registers its endpoint with its client credentials, verifies every webhook
 * with the endpoint's secret, shows what it received (GET /, GET /events),
 * acts once per webhook-id, marks an account's contacts changed on
 * contact.*, forgets an installation's tokens on app.uninstalled, and refuses
 * (and never shows) what Plaza did not sign.
 */
let plaza: PlazaServer;
let running: RunningViewer;
let viewer: ContactViewer;
let appUrl: string;
let app: TestApp;
let owner: Person;
let shop: OrgContext;
let endpointId: string;

beforeAll(async () => {
  plaza = await startWebhooksPlaza();
  running = await startContactViewer(plaza);
  ({ viewer, appUrl, app } = running);
  owner = await person(plaza, 'Olive Owner');
  shop = await account(plaza, owner, 'Corner Shop');
}, 60_000);

afterAll(async () => {
  await running?.close();
  await plaza?.close();
});

/** Deliveries are quick; a loaded machine running every test file at once is not. */
const WAIT_MS = 20_000;

/** A request to the example app, as a browser would send it (no redirects followed). */
const toViewer = (path: string, init?: RequestInit) => running.fetch(path, init);
const home = async () => (await toViewer('/')).text();
async function shown(): Promise<ReceivedWebhook[]> {
  return (await (await toViewer('/events')).json()).events;
}
function shownWhen(what: string, match: (w: ReceivedWebhook) => boolean) {
  return waitFor(what, async () => (await shown()).find(match), WAIT_MS);
}
async function secretOfEndpoint(): Promise<string> {
  return (await viewer.plaza.appApi().webhookEndpoints.secret(endpointId)).secret;
}

describe('the contact viewer receiving webhooks from a running Plaza', () => {
  it("registers its endpoint with its client credentials, shows Plaza's test message once, redelivered or not", async () => {
    // Without a secret it cannot verify: it takes nothing (Plaza retries a 503).
    expect((await toViewer('/webhooks', { method: 'POST', body: '{}' })).status).toBe(503);
    expect(await home()).toContain('Not receiving webhooks');

    const { endpoint, created } = await viewer.registerWebhookEndpoint();
    expect(created).toBe(true);
    expect(endpoint).toMatchObject({ url: `${appUrl}/webhooks`, enabled: true, eventTypes: [] });
    endpointId = endpoint.id;
    // A restarted app finds its endpoint instead of making another.
    expect(await viewer.registerWebhookEndpoint()).toMatchObject({
      created: false,
      endpoint: { id: endpointId },
    });
    const appApi = viewer.plaza.appApi();
    expect((await appApi.webhookEndpoints.list()).data.map((e) => e.id)).toEqual([endpointId]);
    expect(await home()).not.toContain('Not receiving webhooks');

    const message = await appApi.webhookEndpoints.test(endpointId);
    const test = await shownWhen('webhook.test shown', (w) => w.webhookId === message.id);
    expect(test).toMatchObject({ type: 'webhook.test', accountId: null, outcome: 'noted' });
    expect(await home()).toContain(message.id);
    const messagePath = '/v1/app/webhook-messages/{messageId}/attempts' as const;
    const attempts = () => appApi.get(messagePath, { params: { messageId: message.id } });
    await waitFor('delivered', async () => (await attempts()).data.some((a) => a.success), WAIT_MS);

    // Plaza sends it again (same webhook-id): acknowledged with 204, not acted on twice.
    await appApi.post('/v1/app/webhook-messages/{messageId}/replay', { params: { messageId: message.id } });
    const both = await waitFor(
      'redelivered',
      async () => {
        const list = (await attempts()).data;
        return list.length === 2 && list.every((a) => a.success) ? list : undefined;
      },
      WAIT_MS,
    );
    expect(both.map((a) => a.statusCode)).toEqual([204, 204]);
    expect((await shown()).filter((w) => w.webhookId === message.id)).toHaveLength(1);
  });

  it('installed in an account: app.installed is shown, a new contact marks the contact list changed', async () => {
    const start = await toViewer('/install');
    const flowCookie = start.headers.get('set-cookie')!.split(';')[0];
    const callback = await installByConsent(
      plaza,
      browserAgent(plaza),
      { url: new URL(start.headers.get('location')!), verifier: '', state: '' },
      owner,
      shop.org.id,
    );
    const back = await toViewer(callback.pathname + callback.search, { headers: { cookie: flowCookie } });
    expect(back.status).toBe(303);
    const installationId = viewer.installations.get(shop.org.id)!.installationId;
    expect(installationId).toMatch(/^inst_/);
    await shownWhen('app.installed shown', (w) => w.type === 'app.installed');
    expect((await shown()).find((w) => w.type === 'app.installed')).toMatchObject({
      accountId: shop.org.id,
      installationId,
    });
    // The contacts page was just shown (the callback lands there): nothing new.
    expect((await toViewer(`/contacts?account=${shop.org.id}`)).status).toBe(200);
    expect(await home()).not.toContain('new change');

    await plaza.core.contacts.create(shop, { name: 'Ada Lovelace', email: 'ada@example.com' });
    const created = await shownWhen('contact.created shown', (w) => w.type === 'contact.created');
    expect(created).toMatchObject({ accountId: shop.org.id, outcome: 'marked the contact list changed' });
    expect(await home()).toContain('Contacts (1 new change)');
    // Looking at the contacts clears the mark.
    expect(await (await toViewer(`/contacts?account=${shop.org.id}`)).text()).toContain('Ada Lovelace');
    expect(await home()).not.toContain('new change');
  });

  it('refuses what Plaza did not sign, with 400/401, and neither shows nor acts on it', async () => {
    const secret = await secretOfEndpoint();
    const installationId = viewer.installations.get(shop.org.id)!.installationId;
    // A forged "you were uninstalled": accepted, it would make the app drop a live installation's tokens.
    const body = JSON.stringify({
      id: 'evt_forged',
      type: 'app.uninstalled',
      timestamp: new Date().toISOString(),
      accountId: shop.org.id,
      installationId,
      data: { installationId, accountId: shop.org.id, appId: app.appId },
    });
    const now = Math.floor(Date.now() / 1000);
    const post = (webhookId: string, headers: Record<string, string>, sent = body) =>
      toViewer('/webhooks', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'webhook-id': webhookId, ...headers },
        body: sent,
      });
    const refusals: Array<{ id: string; headers: Record<string, string>; status: number; reason: string }> = [
      { id: 'msg_forged_unsigned', headers: {}, status: 400, reason: 'missing_headers' },
      {
        id: 'msg_forged_other_secret',
        headers: {
          'webhook-timestamp': String(now),
          'webhook-signature': await signWebhook(
            `whsec_${randomBytes(24).toString('base64')}`,
            'msg_forged_other_secret',
            now,
            body,
          ),
        },
        status: 401,
        reason: 'no_matching_signature',
      },
      {
        // Signed with the real secret ten minutes ago: a replayed capture.
        id: 'msg_forged_stale',
        headers: {
          'webhook-timestamp': String(now - 600),
          'webhook-signature': await signWebhook(secret, 'msg_forged_stale', now - 600, body),
        },
        status: 401,
        reason: 'timestamp_out_of_tolerance',
      },
      {
        // Signed with the real secret, then the body changed on the way.
        id: 'msg_forged_tampered',
        headers: {
          'webhook-timestamp': String(now),
          'webhook-signature': await signWebhook(
            secret,
            'msg_forged_tampered',
            now,
            body.replace('app.', 'xpp.'),
          ),
        },
        status: 401,
        reason: 'no_matching_signature',
      },
    ];
    for (const r of refusals) {
      const res = await post(r.id, r.headers);
      expect(res.status, r.id).toBe(r.status);
      expect(await res.json(), r.id).toMatchObject({ error: r.reason });
    }
    const list = await shown();
    expect(list.filter((w) => w.webhookId.startsWith('msg_forged'))).toEqual([]);
    expect(list.filter((w) => w.type === 'app.uninstalled')).toEqual([]);
    expect(await home()).not.toContain('msg_forged');
    expect(viewer.installations.has(shop.org.id)).toBe(true);
    expect((await toViewer(`/contacts?account=${shop.org.id}`)).status).toBe(200);
  });

  it("uninstalled on Plaza's side: app.uninstalled makes the app forget the installation's tokens", async () => {
    const installationId = viewer.installations.get(shop.org.id)!.installationId;
    await plaza.core.oauth.uninstallInstallation(
      { accountId: shop.org.id, appId: app.appId },
      owner.actor,
      'uninstalled_by_account',
    );
    const gone = await shownWhen('app.uninstalled shown', (w) => w.type === 'app.uninstalled');
    expect(gone).toMatchObject({
      accountId: shop.org.id,
      installationId,
      outcome: "forgot the installation's tokens",
    });
    expect(viewer.installations.has(shop.org.id)).toBe(false);
    const page = await home();
    expect(page).toContain('No installations yet.');
    expect(page).toContain('app.uninstalled');
    expect((await toViewer(`/contacts?account=${shop.org.id}`)).status).toBe(404);
  });
});
