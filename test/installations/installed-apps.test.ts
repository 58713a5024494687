import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pendingScopes } from '../../server/modules/installations/views.ts';
import {
  authorizationUrl,
  browserAgent,
  exchange,
  installByConsent,
  relyingParty,
} from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { account, type Person, person, publishVersion, registerApp } from '../helpers/world.ts';

/**
 * The account's installed-apps list (GET /v1/organizations/:orgId/installations):
 * each installation with its app's name and icon, the consented version, who
 * installed it, the granted scopes in plain words, and — when the app's live
 * version asks for more — what it asks for and the link that starts the
 * approval (the app's install link, leading to Plaza's consent page).
 */
let plaza: PlazaServer;
const CALLBACK = 'https://growing.example.com/callback';

beforeAll(async () => {
  plaza = await startPlazaServer();
});
afterAll(() => plaza?.close());

async function signedIn(who: Person) {
  const agent = browserAgent(plaza);
  const res = await agent
    .post('/v1/auth/login')
    .send({ email: who.email, password: who.password })
    .expect(200);
  return { agent, csrf: res.body.csrfToken as string };
}

describe('installed apps of an account', () => {
  it('names the app, version, installer and scopes in words, and offers the upgrade a new version asks for', async () => {
    const app = await registerApp(plaza, {
      name: 'Growing App',
      redirectUris: [CALLBACK],
      scopes: [{ name: 'contacts:read' }, { name: 'users:read', optional: true }],
      installUrl: 'https://growing.example.com/plaza/install',
    });
    const owner = await person(plaza, 'Olive Owner');
    const shop = await account(plaza, owner, 'Corner Shop');
    const config = await relyingParty(plaza, app);
    const agent = browserAgent(plaza);
    // The optional users:read is declined.
    const start = await authorizationUrl(config, CALLBACK, 'contacts:read users:read');
    await exchange(
      config,
      await installByConsent(plaza, agent, start, owner, shop.org.id, { optional: [] }),
      start,
    );

    const admin = await signedIn(owner);
    const list = async () =>
      (await admin.agent.get(`/v1/organizations/${shop.org.id}/installations`).expect(200)).body.data;
    const [first] = await list();
    expect(first).toMatchObject({
      accountId: shop.org.id,
      appId: app.appId,
      status: 'active',
      app: { id: app.appId, name: 'Growing App', status: 'active' },
      version: { id: app.versionId, number: 1 },
      installedBy: owner.user.id,
      installedByName: 'Olive Owner',
      grantedScopes: ['contacts:read'],
      scopes: [
        { name: 'contacts:read', description: expect.stringMatching(/contacts/i), sensitivity: 'personal' },
      ],
      // The declined optional scope is not asked for again.
      upgrade: null,
    });
    expect(first.app.iconUrl).toMatch(/\/v1\/assets\/ast_/);
    expect((await plaza.http.get(new URL(first.app.iconUrl).pathname).expect(200)).type).toBe('image/png');
    expect(first.grantId).toBeUndefined();

    // Version 2 asks for contacts:write: the list says so, with the link that starts the approval.
    const v2 = await publishVersion(plaza, app, {
      scopes: [{ name: 'contacts:read' }, { name: 'contacts:write' }, { name: 'users:read', optional: true }],
    });
    const [pending] = await list();
    expect(pending.grantedScopes).toEqual(['contacts:read']);
    expect(pending.version.number).toBe(1);
    expect(pending.upgrade).toMatchObject({
      versionId: v2,
      versionNumber: 2,
      scopes: [{ name: 'contacts:write', optional: false, description: expect.stringMatching(/change/i) }],
    });
    const approve = new URL(pending.upgrade.approveUrl);
    expect(`${approve.origin}${approve.pathname}`).toBe('https://growing.example.com/plaza/install');
    expect(approve.searchParams.get('plaza_url')).toBe(plaza.baseUrl);

    // Approving is consent on Plaza's page (the app starts it): the installation is upgraded in place.
    const again = await authorizationUrl(config, CALLBACK, 'contacts:read contacts:write');
    await exchange(config, await installByConsent(plaza, agent, again, owner, shop.org.id), again);
    const [upgraded] = await list();
    expect(upgraded).toMatchObject({
      id: first.id,
      grantedScopes: ['contacts:read', 'contacts:write'],
      version: { id: v2, number: 2 },
      upgrade: null,
    });
  });

  it('has no approve link when the app has no install link, and shows members the list', async () => {
    const app = await registerApp(plaza, { name: 'Linkless', redirectUris: [CALLBACK] });
    const owner = await person(plaza, 'Olive Owner');
    const shop = await account(plaza, owner, 'Corner Shop');
    const config = await relyingParty(plaza, app);
    const start = await authorizationUrl(config, CALLBACK, 'contacts:read');
    await exchange(
      config,
      await installByConsent(plaza, browserAgent(plaza), start, owner, shop.org.id),
      start,
    );
    await publishVersion(plaza, app, { scopes: [{ name: 'contacts:read' }, { name: 'account:read' }] });

    const member = await person(plaza, 'Mo Member');
    await plaza.core.db.query(
      "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'member')",
      [shop.org.id, member.user.id],
    );
    const viewer = await signedIn(member);
    const [inst] = (await viewer.agent.get(`/v1/organizations/${shop.org.id}/installations`).expect(200)).body
      .data;
    expect(inst.upgrade).toMatchObject({ versionNumber: 2, approveUrl: null });
    expect(inst.upgrade.scopes.map((s: { name: string }) => s.name)).toEqual(['account:read']);
    // Members see; only owners and admins uninstall.
    await viewer.agent
      .delete(`/v1/organizations/${shop.org.id}/installations/${inst.id}`)
      .set('x-csrf-token', viewer.csrf)
      .expect(403);
  });
});

describe('pendingScopes', () => {
  const s = (name: string, optional = false) => ({ name, optional });
  it('asks for new scopes and for declined ones that became required, not for declined optional ones', () => {
    const installed = { number: 1, scopes: [s('a:read'), s('b:read', true)] };
    expect(
      pendingScopes(['a:read'], installed, { number: 2, scopes: [s('a:read'), s('b:read', true)] }),
    ).toEqual([]);
    expect(pendingScopes(['a:read'], installed, { number: 2, scopes: [s('a:read'), s('b:read')] })).toEqual([
      s('b:read'),
    ]);
    expect(
      pendingScopes(['a:read'], installed, { number: 2, scopes: [s('a:read'), s('c:read', true)] }),
    ).toEqual([s('c:read', true)]);
  });
  it('asks nothing of an installation on the live version or a newer one (development mode), or without a live one', () => {
    const installed = { number: 3, scopes: [s('a:read')] };
    expect(pendingScopes(['a:read'], installed, { number: 2, scopes: [s('z:read')] })).toEqual([]);
    expect(pendingScopes(['a:read'], installed, { number: 3, scopes: [s('z:read')] })).toEqual([]);
    expect(pendingScopes(['a:read'], installed, null)).toEqual([]);
  });
});
