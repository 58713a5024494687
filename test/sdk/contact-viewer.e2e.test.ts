import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContactViewer } from '../../sdk/examples/contact-viewer/app.ts';
import { createPlazaClient, PlazaOAuthError } from '../../sdk/src/index.ts';
import { type RunningViewer, startContactViewer } from '../helpers/contact-viewer.ts';
import { browserAgent, installByConsent } from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { account, type Person, person, type TestApp } from '../helpers/world.ts';

/**
 * The SDK's example app against a running Plaza, end to end: a real core
 * listening on a port, the contact viewer on another, a person installing it
 * through Plaza's own pages (plain HTTP with the session cookie and CSRF
 * token), the app reading the account's contacts with `contacts:read`,
 * refreshing (on request, on a refused token, and retrying a lost answer),
 * and uninstalling, after which its tokens are refused.
 */
let plaza: PlazaServer;
let running: RunningViewer;
let viewer: ContactViewer;
let appUrl: string;
let app: TestApp;
let owner: Person;
let shopId: string;
let otherId: string;

beforeAll(async () => {
  plaza = await startPlazaServer();
  running = await startContactViewer(plaza);
  ({ viewer, appUrl, app } = running);

  // One person with two accounts: the app goes into the shop, never sees the other.
  owner = await person(plaza, 'Olive Owner');
  const shop = await account(plaza, owner, 'Corner Shop');
  const other = await account(plaza, owner, 'Other Business');
  shopId = shop.org.id;
  otherId = other.org.id;
  await plaza.core.contacts.create(shop, { name: 'Ada Lovelace', email: 'ada@example.com', tags: ['vip'] });
  await plaza.core.contacts.create(shop, { name: 'Grace Hopper', phone: '+15551234567' });
  await plaza.core.contacts.create(other, { name: 'Not In The Shop' });
});

afterAll(async () => {
  await running?.close();
  await plaza?.close();
});

/** A request to the example app, as a browser would send it (no redirects followed). */
const toViewer = (path: string, init?: RequestInit) => running.fetch(path, init);
const json = { accept: 'application/json' };

async function contactNames(): Promise<{ status: number; names: string[]; body: any }> {
  const res = await toViewer(`/contacts?account=${shopId}`, { headers: json });
  const body = await res.json();
  return {
    status: res.status,
    names: (body.contacts ?? []).map((c: { name: string }) => c.name).sort(),
    body,
  };
}

describe('the contact viewer example against a running Plaza', () => {
  it('installs, reads contacts, refreshes, uninstalls, and its token is refused', async () => {
    // 1. Install: the app sends the browser to Plaza with PKCE and a state bound to a cookie.
    const start = await toViewer('/install');
    expect(start.status).toBe(303);
    const authorize = new URL(start.headers.get('location')!);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${plaza.baseUrl}/oauth/auth`);
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('redirect_uri')).toBe(`${appUrl}/callback`);
    const flowCookie = start.headers.get('set-cookie')!.split(';')[0];

    // 2. Consent on Plaza's pages: sign in, choose the shop, approve.
    const callback = await installByConsent(
      plaza,
      browserAgent(plaza),
      { url: authorize, verifier: '', state: '' },
      owner,
      shopId,
    );
    expect(`${callback.origin}${callback.pathname}`).toBe(`${appUrl}/callback`);
    expect(callback.searchParams.get('iss')).toBe(`${plaza.baseUrl}/oauth`);

    // A callback without the browser's flow cookie is refused (state bound to the browser).
    const forged = await toViewer(callback.pathname + callback.search);
    expect(forged.status).toBe(400);

    const back = await toViewer(callback.pathname + callback.search, { headers: { cookie: flowCookie } });
    expect(back.status).toBe(303);
    expect(back.headers.get('location')).toBe(`/contacts?account=${shopId}`);
    const installed = viewer.installations.get(shopId)!;
    expect(installed).toMatchObject({ accountId: shopId, scopes: ['contacts:read'] });
    expect(installed.refreshToken).toEqual(expect.any(String));
    const installation = await plaza.core.installations.findActive(shopId, app.appId);
    expect(installation).toMatchObject({ id: installed.installationId, grantedScopes: ['contacts:read'] });
    // The code was used: the same callback again fails the flow (its state is gone).
    expect(
      (await toViewer(callback.pathname + callback.search, { headers: { cookie: flowCookie } })).status,
    ).toBe(400);

    // 3. The app reads the shop's contacts through the API, and only the shop's.
    const first = await contactNames();
    expect(first.status).toBe(200);
    expect(first.names).toEqual(['Ada Lovelace', 'Grace Hopper']);
    expect(first.body.contacts[0].accountId).toBe(shopId);
    const html = await (await toViewer(`/contacts?account=${shopId}`)).text();
    expect(html).toContain('Ada Lovelace');
    expect(html).not.toContain('Not In The Shop');

    // The app as itself (client credentials through the SDK): one active installation.
    expect((await viewer.plaza.appApi().app.get()).activeInstallations).toBe(1);

    // 4a. Refresh on request: a new pair, rotation (the old refresh token is not the new one).
    const refreshed = await toViewer(`/refresh?account=${shopId}`, { method: 'POST', headers: json });
    expect(refreshed.status).toBe(200);
    const afterRefresh = viewer.installations.get(shopId)!;
    expect(afterRefresh.refreshToken).not.toBe(installed.refreshToken);
    expect(afterRefresh.accessToken).not.toBe(installed.accessToken);
    expect((await contactNames()).names).toEqual(['Ada Lovelace', 'Grace Hopper']);

    // 4b. Refresh on its own: Plaza refuses a bad access token (401 invalid_token),
    // the SDK refreshes once, hands the new pair to onTokens and retries the call.
    viewer.installations.set(shopId, {
      ...afterRefresh,
      accessToken: `${afterRefresh.accessToken.slice(0, -4)}AAAA`,
    });
    const healed = await contactNames();
    expect(healed.status).toBe(200);
    expect(healed.names).toEqual(['Ada Lovelace', 'Grace Hopper']);
    const afterHeal = viewer.installations.get(shopId)!;
    expect(afterHeal.refreshToken).not.toBe(afterRefresh.refreshToken);

    // 4c. A lost answer: the refresh reached Plaza but the app never heard; the SDK's
    // retry with the same (previous) refresh token works within Plaza's grace window.
    const lost = await fetch(`${plaza.baseUrl}/oauth/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${app.clientId}:${app.clientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: afterHeal.refreshToken! }),
    });
    expect(lost.status).toBe(200);
    const retried = await viewer.plaza.refresh(afterHeal);
    expect(retried.refreshToken).not.toBe(afterHeal.refreshToken);
    viewer.installations.set(shopId, retried);
    expect((await contactNames()).names).toEqual(['Ada Lovelace', 'Grace Hopper']);

    // 5. Uninstall: the app revokes its refresh token; Plaza ends the installation.
    const lastTokens = viewer.installations.get(shopId)!;
    const uninstalled = await toViewer(`/uninstall?account=${shopId}`, { method: 'POST', headers: json });
    expect(uninstalled.status).toBe(200);
    expect(await plaza.core.installations.isActive(shopId, app.appId)).toBe(false);
    expect(viewer.installations.has(shopId)).toBe(false);

    // 6. Its tokens are refused: the access token on the API, the refresh token at the token endpoint.
    const refused = await fetch(`${plaza.baseUrl}/v1/contacts`, {
      headers: { authorization: `Bearer ${lastTokens.accessToken}` },
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
    const sdk = createPlazaClient({
      plazaUrl: plaza.baseUrl,
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      redirectUri: `${appUrl}/callback`,
    });
    const api = sdk.api(lastTokens);
    const err = await api.contacts.list().catch((e) => e);
    expect(err).toMatchObject({ status: 401, code: 'PLAZA_UNAUTHENTICATED' });
    expect(err.cause).toBeInstanceOf(PlazaOAuthError);
    expect(err.cause.error).toBe('invalid_grant');
    expect((await sdk.appApi().app.get()).activeInstallations).toBe(0);
    expect((await toViewer(`/contacts?account=${shopId}`, { headers: json })).status).toBe(404);

    // The other account was never touched.
    expect(await plaza.core.installations.isActive(otherId, app.appId)).toBe(false);
  });

  it('a person who declines leaves the app uninstalled, and the app says so', async () => {
    const start = await toViewer('/install');
    const flowCookie = start.headers.get('set-cookie')!.split(';')[0];
    const callback = await installByConsent(
      plaza,
      browserAgent(plaza),
      { url: new URL(start.headers.get('location')!), verifier: '', state: '' },
      owner,
      otherId,
      { decision: 'deny' },
    );
    expect(callback.searchParams.get('error')).toBe('access_denied');
    const back = await toViewer(callback.pathname + callback.search, { headers: { cookie: flowCookie } });
    expect(back.status).toBe(200);
    expect(await back.text()).toContain('Not installed');
    expect(viewer.installations.has(otherId)).toBe(false);
    expect(await plaza.core.installations.isActive(otherId, app.appId)).toBe(false);
  });
});
