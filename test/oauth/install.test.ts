import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizationUrl,
  browserAgent,
  claimsOf,
  exchange,
  follow,
  installByConsent,
  relyingParty,
} from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { account, person, publishVersion, registerApp, type TestApp } from '../helpers/world.ts';

/**
 * Step 3: installing an app as a person does it. The app (openid-client)
 * sends the browser to /oauth/auth with PKCE S256 and state; Plaza asks the
 * person to sign in, to choose the account, to consent; the app exchanges the
 * code and an installation exists.
 */
let plaza: PlazaServer;
let app: TestApp;
const CALLBACK = 'https://sync.example.com/oauth/callback';

beforeAll(async () => {
  plaza = await startPlazaServer();
  app = await registerApp(plaza, {
    redirectUris: [CALLBACK],
    scopes: [{ name: 'contacts:read' }, { name: 'users:read', optional: true }],
  });
});
afterAll(() => plaza?.close());

describe('install with consent', () => {
  it('signs in, shows the scopes in plain words, installs, and gives the app tokens for that installation', async () => {
    const who = await person(plaza, 'Cora Customer');
    const shop = await account(plaza, who, 'Corner Bakery');
    const config = await relyingParty(plaza, app);
    const start = await authorizationUrl(config, CALLBACK, 'contacts:read users:read');
    const agent = browserAgent(plaza);

    // The first stop is Plaza's sign-in page, unframeable, with a CSRF token.
    const login = await follow(agent, plaza, start.url.pathname + start.url.search);
    expect(login.page!.status).toBe(200);
    expect(login.page!.text).toContain('Sign in to install Contact Sync');
    expect(login.page!.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(login.page!.headers['x-frame-options']).toBe('DENY');
    expect(login.page!.text).toMatch(/name="csrf" value="[A-Za-z0-9_-]{20,}"/);

    const callback = await installByConsent(plaza, agent, start, who, shop.org.id);
    expect(callback.origin + callback.pathname).toBe(CALLBACK);
    expect(callback.searchParams.get('state')).toBe(start.state);
    expect(callback.searchParams.get('iss')).toBe(plaza.issuer);
    expect(callback.searchParams.get('code')).toBeTruthy();

    const tokens = await exchange(config, callback, start);
    expect(tokens.refresh_token).toBeTruthy();
    expect(tokens.scope?.split(' ').sort()).toEqual(['contacts:read', 'users:read']);
    const inst = await plaza.core.installations.findActive(shop.org.id, app.appId);
    expect(inst).toMatchObject({
      accountId: shop.org.id,
      appId: app.appId,
      versionId: app.versionId,
      grantedScopes: ['contacts:read', 'users:read'],
      installedBy: who.user.id,
      status: 'active',
    });
    expect(inst!.grantId).toBeTruthy();
    const claims = claimsOf(tokens.access_token);
    expect(claims).toMatchObject({
      sub: shop.org.id,
      aud: `${plaza.baseUrl}/v1`,
      plaza_account: shop.org.id,
      plaza_app: app.appId,
      plaza_installation: inst!.id,
      client_id: app.clientId,
    });
    expect(await plaza.core.oauth.verifyAccessToken(tokens.access_token)).toEqual({
      accountId: shop.org.id,
      appId: app.appId,
      installationId: inst!.id,
      clientId: app.clientId,
      scopes: ['contacts:read', 'users:read'],
    });
    // The token works on the scoped API, for this account.
    await plaza.http.get('/v1/contacts').set('authorization', `Bearer ${tokens.access_token}`).expect(200);
    // app.installed went through the outbox, and the audit log names the person.
    const event = await plaza.core.db.maybeOne(
      "SELECT payload FROM events WHERE type = 'app.installed' AND payload->>'installationId' = $1",
      [inst!.id],
    );
    expect(event).toBeDefined();
    // The provider's browser session is not kept once the code is issued: the next request chooses again.
    const sessions = await plaza.core.db.one(
      "SELECT count(*)::int AS n FROM oauth_payloads WHERE model = 'Session' AND payload->>'accountId' = $1",
      [shop.org.id],
    );
    expect(sessions.n).toBe(0);
  });

  it('lets the person leave optional scopes out', async () => {
    const who = await person(plaza);
    const shop = await account(plaza, who);
    const config = await relyingParty(plaza, app);
    const start = await authorizationUrl(config, CALLBACK, 'contacts:read users:read');
    const agent = browserAgent(plaza);
    const consent = await signInAndOpenConsent(agent, start, who);
    expect(consent).toContain('See your contacts and their details');
    expect(consent).toMatch(/type="checkbox" name="scope" value="users:read" checked/);
    expect(consent).not.toMatch(/type="checkbox" name="scope" value="contacts:read"/);
    const callback = await installByConsent(plaza, agent, start, who, shop.org.id, { optional: [] });
    const tokens = await exchange(config, callback, start);
    expect(tokens.scope).toBe('contacts:read');
    expect((await plaza.core.installations.findActive(shop.org.id, app.appId))!.grantedScopes).toEqual([
      'contacts:read',
    ]);
  });

  it('sends access_denied to the app when the person cancels, and installs nothing', async () => {
    const who = await person(plaza);
    const shop = await account(plaza, who);
    const config = await relyingParty(plaza, app);
    const start = await authorizationUrl(config, CALLBACK, 'contacts:read');
    const callback = await installByConsent(plaza, browserAgent(plaza), start, who, shop.org.id, {
      decision: 'deny',
    });
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('iss')).toBe(plaza.issuer);
    expect(callback.searchParams.get('state')).toBe(start.state);
    await expect(exchange(config, callback, start)).rejects.toMatchObject({ error: 'access_denied' });
    expect(await plaza.core.installations.findActive(shop.org.id, app.appId)).toBeUndefined();
  });

  it('never reuses one account’s grant for another: same person, same app, two accounts, two installations', async () => {
    const who = await person(plaza, 'Agnes Agency');
    const first = await account(plaza, who, 'First Shop');
    const second = await account(plaza, who, 'Second Shop');
    const config = await relyingParty(plaza, app);
    const agent = browserAgent(plaza);

    const startA = await authorizationUrl(config, CALLBACK, 'contacts:read');
    const tokensA = await exchange(
      config,
      await installByConsent(plaza, agent, startA, who, first.org.id),
      startA,
    );

    // Signed in already and one grant exists: the next request still asks which account.
    const startB = await authorizationUrl(config, CALLBACK, 'contacts:read');
    const chooser = await follow(agent, plaza, startB.url.pathname + startB.url.search);
    expect(chooser.redirect).toBeUndefined();
    expect(chooser.page!.text).toContain('in which account?');
    expect(chooser.page!.text).toContain('First Shop');
    expect(chooser.page!.text).toContain('Second Shop');
    const tokensB = await exchange(
      config,
      await installByConsent(plaza, agent, startB, who, second.org.id),
      startB,
    );

    const a = claimsOf(tokensA.access_token);
    const b = claimsOf(tokensB.access_token);
    expect(a.plaza_account).toBe(first.org.id);
    expect(b.plaza_account).toBe(second.org.id);
    expect(a.plaza_installation).not.toBe(b.plaza_installation);
    const instA = await plaza.core.installations.findActive(first.org.id, app.appId);
    const instB = await plaza.core.installations.findActive(second.org.id, app.appId);
    expect(instA!.grantId).not.toBe(instB!.grantId);
    // And refreshing A's tokens keeps them A's.
    const refreshed = await client.refreshTokenGrant(config, tokensA.refresh_token!);
    expect(claimsOf(refreshed.access_token).plaza_account).toBe(first.org.id);
  });

  it('offers only accounts the person administers', async () => {
    const owner = await person(plaza);
    const shop = await account(plaza, owner, 'Members Only Shop');
    const member = await person(plaza, 'Mo Member');
    await plaza.core.db.query(
      "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'member')",
      [shop.org.id, member.user.id],
    );
    const config = await relyingParty(plaza, app);
    const start = await authorizationUrl(config, CALLBACK, 'contacts:read');
    const agent = browserAgent(plaza);
    const page = await signInAndOpenConsent(agent, start, member);
    expect(page).toContain('not an owner or admin of any account');
    expect(page).not.toContain('Members Only Shop');
    // Asking for the consent page of that account directly does not help.
    const uid = /\/oauth\/interaction\/([^/"?]+)/.exec(page)![1];
    const direct = await agent.get(`/oauth/interaction/${uid}/consent?account=${shop.org.id}`).expect(403);
    expect(direct.text).toContain('Only owners and admins');
  });

  it('installs an unreviewed app only into its developer’s test accounts', async () => {
    const draft = await registerApp(plaza, {
      redirectUris: ['http://127.0.0.1:9/callback'],
      live: false,
      name: 'Draft Sync',
    });
    const testShop = await plaza.core.organizations.createTestAccount(draft.developer, { name: 'Test Shop' });
    const config = await relyingParty(plaza, draft);
    const start = await authorizationUrl(config, draft.redirectUri, 'contacts:read');
    const callback = await installByConsent(
      plaza,
      browserAgent(plaza),
      start,
      draft.developerPerson,
      testShop.id,
    );
    const tokens = await exchange(config, callback, start);
    expect(claimsOf(tokens.access_token).plaza_account).toBe(testShop.id);
    expect((await plaza.core.installations.findActive(testShop.id, draft.appId))!.versionId).toBe(
      draft.versionId,
    );

    // A customer cannot install it anywhere.
    const customer = await person(plaza);
    await account(plaza, customer, 'Real Shop');
    const other = await authorizationUrl(config, draft.redirectUri, 'contacts:read');
    const page = await signInAndOpenConsent(browserAgent(plaza), other, customer);
    expect(page).toContain('cannot be installed in the accounts you administer');
  });

  it('upgrades scopes in place when a new version asks for more, only once approved', async () => {
    const upgrading = await registerApp(plaza, { redirectUris: [CALLBACK], name: 'Growing App' });
    const who = await person(plaza);
    const shop = await account(plaza, who);
    const config = await relyingParty(plaza, upgrading);
    const agent = browserAgent(plaza);
    const start = await authorizationUrl(config, CALLBACK, 'contacts:read');
    const first = await exchange(
      config,
      await installByConsent(plaza, agent, start, who, shop.org.id),
      start,
    );
    const before = await plaza.core.installations.findActive(shop.org.id, upgrading.appId);

    const v2 = await publishVersion(plaza, upgrading, {
      scopes: [{ name: 'contacts:read' }, { name: 'contacts:write' }],
    });
    // Until the account approves, the installation and its tokens keep their old scopes.
    const stillOld = await client.refreshTokenGrant(config, first.refresh_token!);
    expect(stillOld.scope).toBe('contacts:read');
    expect((await plaza.core.installations.findActive(shop.org.id, upgrading.appId))!.versionId).toBe(
      upgrading.versionId,
    );

    const again = await authorizationUrl(config, CALLBACK, 'contacts:read contacts:write');
    const consent = await signInAndOpenConsent(agent, again, who);
    expect(consent).toContain('asks for more access');
    expect(consent).toContain('It can already');
    expect(consent).toContain('Create, change and delete your contacts');
    const upgraded = await exchange(
      config,
      await installByConsent(plaza, agent, again, who, shop.org.id),
      again,
    );
    expect(upgraded.scope?.split(' ').sort()).toEqual(['contacts:read', 'contacts:write']);
    const after = await plaza.core.installations.findActive(shop.org.id, upgrading.appId);
    expect(after!.id).toBe(before!.id);
    expect(after!.grantId).toBe(before!.grantId);
    expect(after!.versionId).toBe(v2);
    expect(after!.grantedScopes).toEqual(['contacts:read', 'contacts:write']);
    // The refresh token from before the upgrade keeps working, for the scopes it was issued with.
    const older = await client.refreshTokenGrant(config, stillOld.refresh_token!);
    expect(older.scope).toBe('contacts:read');
  });
});

/** Opens the authorization URL, signs in when asked, and returns the next page (chooser or consent). */
async function signInAndOpenConsent(
  agent: ReturnType<typeof browserAgent>,
  start: Awaited<ReturnType<typeof authorizationUrl>>,
  who: Awaited<ReturnType<typeof person>>,
): Promise<string> {
  let step = await follow(agent, plaza, start.url.pathname + start.url.search);
  if (step.page?.text.includes('name="password"')) {
    const html = step.page.text;
    const action = /action="([^"]*\/login)"/.exec(html)![1];
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1];
    const res = await agent
      .post(action)
      .type('form')
      .send(new URLSearchParams({ csrf, email: who.email, password: who.password }).toString())
      .redirects(0)
      .expect(303);
    step = await follow(agent, plaza, res.headers.location);
  }
  return step.page!.text;
}
