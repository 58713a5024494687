import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPlazaClient } from '../../sdk/src/index.ts';
import type { OrgContext } from '../../server/tenancy.ts';
import {
  authorizationUrl,
  browserAgent,
  claimsOf,
  exchange,
  installByConsent,
  relyingParty,
  uninstallAudit,
} from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { type Person, person, registerApp, type TestApp } from '../helpers/world.ts';

/**
 * Agency installs: an agency owner or admin installs an app into several of
 * its sub-accounts at once; each sub-account gets its own grant and
 * installation. The app learns of them (GET /v1/app/installations) and gets
 * each installation's tokens with its client credentials, the same tokens the
 * token endpoint gives after a code exchange; it may also uninstall itself.
 */
const CALLBACK = 'https://reviews.example.com/oauth/callback';
let plaza: PlazaServer;
let app: TestApp;
let appSlug: string;
let otherApp: TestApp;
let admin: Person;
let agency: OrgContext;
let subs: Array<{ id: string; name: string }>;
/** The third sub-account's installation, made through the consent pages before the bulk install. */
let existing: { installationId: string; accessToken: string };
let rival: Person;
let rivalAgency: OrgContext;
let rivalSub: { id: string; name: string };

/** A signed-in API caller (session cookie + CSRF token). */
async function signedIn(who: Person) {
  const agent = browserAgent(plaza);
  const res = await agent
    .post('/v1/auth/login')
    .send({ email: who.email, password: who.password })
    .expect(200);
  return { agent, csrf: res.body.csrfToken as string };
}

async function clientToken(which: TestApp): Promise<string> {
  return (await client.clientCredentialsGrant(await relyingParty(plaza, which))).access_token;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  plaza = await startPlazaServer();
  app = await registerApp(plaza, {
    name: 'Review Booster',
    redirectUris: [CALLBACK],
    scopes: [{ name: 'contacts:read' }, { name: 'users:read', optional: true }],
  });
  appSlug = (await plaza.core.apps.get(app.developer, app.appId)).slug;
  otherApp = await registerApp(plaza, { name: 'Other Tool', redirectUris: [CALLBACK] });
  const { organizations } = plaza.core;
  admin = await person(plaza, 'Ada Agency');
  const ag = await organizations.create(admin.actor, { name: 'Bright Agency', kind: 'agency' });
  agency = await organizations.resolveContext(admin.actor, ag.id);
  subs = [];
  for (const name of ['Dental One', 'Dental Two', 'Dental Three'])
    subs.push(await organizations.createSubAccount(agency, { name }));
  // The third sub-account installed the app itself, through the consent pages.
  const config = await relyingParty(plaza, app);
  const start = await authorizationUrl(config, CALLBACK, 'contacts:read');
  const tokens = await exchange(
    config,
    await installByConsent(plaza, browserAgent(plaza), start, admin, subs[2].id),
    start,
  );
  existing = {
    installationId: claimsOf(tokens.access_token).plaza_installation,
    accessToken: tokens.access_token,
  };
  rival = await person(plaza, 'Rex Rival');
  const rag = await organizations.create(rival.actor, { name: 'Rival Agency', kind: 'agency' });
  rivalAgency = await organizations.resolveContext(rival.actor, rag.id);
  rivalSub = await organizations.createSubAccount(rivalAgency, { name: 'Rival Client' });
}, 60_000);
afterAll(() => plaza?.close());

/** Installation ids of the bulk install (sub-accounts one and two), filled by the first test. */
const installed: Record<string, string> = {};

describe('agency bulk install', () => {
  it('previews the app for the agency: scopes in plain words, which sub-accounts already have it', async () => {
    const { agent } = await signedIn(admin);
    const res = await agent
      .get(`/v1/organizations/${agency.org.id}/bulk-installs/apps/${appSlug}`)
      .expect(200);
    expect(res.body.app).toMatchObject({ id: app.appId, slug: appSlug, name: 'Review Booster' });
    expect(res.body.app.version.id).toBe(app.versionId);
    expect(res.body.scopes).toEqual([
      {
        name: 'contacts:read',
        consentText: plaza.core.scopes.get('contacts:read')!.consentText,
        sensitivity: plaza.core.scopes.get('contacts:read')!.sensitivity,
        optional: false,
      },
      {
        name: 'users:read',
        consentText: plaza.core.scopes.get('users:read')!.consentText,
        sensitivity: plaza.core.scopes.get('users:read')!.sensitivity,
        optional: true,
      },
    ]);
    const byId = new Map(res.body.subAccounts.data.map((s: { id: string }) => [s.id, s]));
    expect(byId.size).toBe(3);
    expect(byId.get(subs[0].id)).toMatchObject({ installed: false, installable: true, installationId: null });
    expect(byId.get(subs[2].id)).toMatchObject({
      installed: true,
      installable: false,
      installationId: existing.installationId,
      grantedScopes: ['contacts:read'],
    });
  });

  it('installs into each sub-account with its own grant, and reports the ones it could not install', async () => {
    const { agent, csrf } = await signedIn(admin);
    const res = await agent
      .post(`/v1/organizations/${agency.org.id}/bulk-installs`)
      .set('x-csrf-token', csrf)
      .send({
        slug: appSlug,
        subAccountIds: [subs[0].id, subs[1].id, subs[2].id, rivalSub.id, 'acct_nothing_here', subs[0].id],
        scopes: [],
        versionId: app.versionId,
      })
      .expect(200);
    expect(res.body).toMatchObject({
      app: { id: app.appId, name: 'Review Booster' },
      versionId: app.versionId,
      grantedScopes: ['contacts:read'],
      installed: 2,
      failed: 3,
    });
    const results = res.body.results as Array<{
      subAccountId: string;
      status: string;
      installationId: string;
    }>;
    expect(results.map((r) => [r.subAccountId, r.status])).toEqual([
      [subs[0].id, 'installed'],
      [subs[1].id, 'installed'],
      [subs[2].id, 'already_installed'],
      [rivalSub.id, 'not_sub_account'],
      ['acct_nothing_here', 'not_sub_account'],
    ]);
    expect(results[2].installationId).toBe(existing.installationId);
    installed[subs[0].id] = results[0].installationId;
    installed[subs[1].id] = results[1].installationId;

    const { db } = plaza.core;
    const rows = await db.query(
      "SELECT id, account_id, grant_id, installed_by, granted_scopes FROM installations WHERE app_id = $1 AND status = 'active' ORDER BY id",
      [app.appId],
    );
    expect(rows.map((r) => r.account_id).sort()).toEqual(subs.map((s) => s.id).sort());
    const mine = rows.filter((r) => r.id !== existing.installationId);
    expect(new Set(mine.map((r) => r.grant_id)).size).toBe(2);
    for (const row of mine) {
      expect(row.installed_by).toBe(admin.user.id);
      expect(row.granted_scopes).toEqual(['contacts:read']);
      // The grant: the sub-account, the app's client, the granted scopes for the Plaza API.
      const grant = await db.one("SELECT payload FROM oauth_payloads WHERE model = 'Grant' AND id = $1", [
        row.grant_id,
      ]);
      expect(grant.payload).toMatchObject({
        accountId: row.account_id,
        clientId: app.clientId,
        resources: { [`${plaza.baseUrl}/v1`]: 'contacts:read' },
      });
      // app.installed through the outbox; audited in the sub-account with the agency admin as the actor.
      const event = await db.maybeOne(
        "SELECT organization_id FROM events WHERE type = 'app.installed' AND payload->>'installationId' = $1",
        [row.id],
      );
      expect(event?.organization_id).toBe(row.account_id);
      const audit = await db.one(
        "SELECT organization_id, actor_user_id FROM audit_events WHERE action = 'app.installed' AND target_id = $1",
        [row.id],
      );
      expect(audit).toEqual({ organization_id: row.account_id, actor_user_id: admin.user.id });
    }
    // Nothing was written for the ones that failed.
    for (const id of [rivalSub.id, 'acct_nothing_here']) {
      expect(await db.maybeOne('SELECT 1 FROM installations WHERE account_id = $1', [id])).toBeUndefined();
      expect(
        await db.maybeOne(
          "SELECT 1 FROM oauth_payloads WHERE model = 'Grant' AND payload->>'accountId' = $1",
          [id],
        ),
      ).toBeUndefined();
    }
    const grantsOfThird = await db.query(
      "SELECT 1 FROM oauth_payloads WHERE model = 'Grant' AND payload->>'accountId' = $1",
      [subs[2].id],
    );
    expect(grantsOfThird.length).toBe(1);
    // The agency's own log says who did it and how it went.
    const summary = await db.one(
      "SELECT actor_user_id, data FROM audit_events WHERE organization_id = $1 AND action = 'app.bulk_installed'",
      [agency.org.id],
    );
    expect(summary.actor_user_id).toBe(admin.user.id);
    expect(summary.data.installed).toHaveLength(2);
    expect(summary.data.skipped).toHaveLength(3);
    // The preview now shows every sub-account with the app.
    const preview = await agent
      .get(`/v1/organizations/${agency.org.id}/bulk-installs/apps/${appSlug}`)
      .expect(200);
    expect(preview.body.subAccounts.data.every((s: { installed: boolean }) => s.installed)).toBe(true);
  });

  it('refuses scopes the app does not ask for, and an outdated preview, before writing anything', async () => {
    const { organizations } = plaza.core;
    const fresh = await organizations.createSubAccount(agency, { name: 'Dental Four' });
    const { agent, csrf } = await signedIn(admin);
    const url = `/v1/organizations/${agency.org.id}/bulk-installs`;
    const badScope = await agent
      .post(url)
      .set('x-csrf-token', csrf)
      .send({ appId: app.appId, subAccountIds: [fresh.id], scopes: ['contacts:write'] })
      .expect(400);
    expect(badScope.body.fields).toEqual([
      { field: 'body.scopes', reason: expect.stringContaining('contacts:write') },
    ]);
    const stale = await agent
      .post(url)
      .set('x-csrf-token', csrf)
      .send({ appId: app.appId, subAccountIds: [fresh.id], versionId: 'ver_older' })
      .expect(409);
    expect(stale.body.fields[0].field).toBe('body.versionId');
    const neither = await agent
      .post(url)
      .set('x-csrf-token', csrf)
      .send({ subAccountIds: [fresh.id] })
      .expect(400);
    expect(neither.body.fields[0].field).toBe('body.appId');
    await agent
      .post(url)
      .set('x-csrf-token', csrf)
      .send({ appId: 'app_unknown', subAccountIds: [fresh.id] })
      .expect(404);
    const { db } = plaza.core;
    expect(
      await db.maybeOne('SELECT 1 FROM installations WHERE account_id = $1', [fresh.id]),
    ).toBeUndefined();
    expect(
      await db.maybeOne("SELECT 1 FROM oauth_payloads WHERE model = 'Grant' AND payload->>'accountId' = $1", [
        fresh.id,
      ]),
    ).toBeUndefined();
    // An optional scope, when chosen, is granted.
    const withOptional = await agent
      .post(url)
      .set('x-csrf-token', csrf)
      .send({ appId: app.appId, subAccountIds: [fresh.id], scopes: ['users:read'] })
      .expect(200);
    expect(withOptional.body.grantedScopes).toEqual(['contacts:read', 'users:read']);
    expect(withOptional.body.results[0].status).toBe('installed');
  });

  it('is for owners and admins of the agency only, and only for its own sub-accounts', async () => {
    const member = await person(plaza, 'Mo Member');
    await plaza.core.db.query(
      "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'member')",
      [agency.org.id, member.user.id],
    );
    const m = await signedIn(member);
    const fresh = await plaza.core.organizations.createSubAccount(agency, { name: 'Dental Five' });
    const refused = await m.agent
      .post(`/v1/organizations/${agency.org.id}/bulk-installs`)
      .set('x-csrf-token', m.csrf)
      .send({ appId: app.appId, subAccountIds: [fresh.id] })
      .expect(403);
    expect(refused.body.code).toBe('PLAZA_FORBIDDEN');
    await m.agent.get(`/v1/organizations/${agency.org.id}/bulk-installs/apps/${appSlug}`).expect(403);

    // Another agency's admin reaches neither this agency nor, through their own, its sub-accounts.
    const r = await signedIn(rival);
    await r.agent
      .post(`/v1/organizations/${agency.org.id}/bulk-installs`)
      .set('x-csrf-token', r.csrf)
      .send({ appId: app.appId, subAccountIds: [fresh.id] })
      .expect(404);
    const theirs = await r.agent
      .post(`/v1/organizations/${rivalAgency.org.id}/bulk-installs`)
      .set('x-csrf-token', r.csrf)
      .send({ appId: app.appId, subAccountIds: [fresh.id] })
      .expect(200);
    expect(theirs.body.results).toEqual([
      expect.objectContaining({ subAccountId: fresh.id, status: 'not_sub_account', installationId: null }),
    ]);
    expect(await plaza.core.installations.isActive(fresh.id, app.appId)).toBe(false);
  });
});

describe("the app's tokens for installations it did not get through the code flow", () => {
  /** Token sets the app fetched for sub-accounts one and two. */
  const sets: Record<
    string,
    { access_token: string; refresh_token: string; expires_in: number; scope: string }
  > = {};

  it('lists its installations and fetches tokens for each, like a code exchange gives them', async () => {
    const token = await clientToken(app);
    const listed = await plaza.http.get('/v1/app/installations?limit=100').set(bearer(token)).expect(200);
    const ids = listed.body.data.map((i: { id: string }) => i.id);
    expect(ids).toEqual(expect.arrayContaining([existing.installationId, ...Object.values(installed)]));
    for (const inst of listed.body.data) expect(inst).not.toHaveProperty('grantId');

    const reference = claimsOf(existing.accessToken);
    for (const sub of subs.slice(0, 2)) {
      const res = await plaza.http
        .post(`/v1/app/installations/${installed[sub.id]}/token`)
        .set(bearer(token))
        .expect(200);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body).toMatchObject({ token_type: 'Bearer', expires_in: 900, scope: 'contacts:read' });
      expect(typeof res.body.refresh_token).toBe('string');
      sets[sub.id] = res.body;
      const header = JSON.parse(Buffer.from(res.body.access_token.split('.')[0], 'base64url').toString());
      expect(header).toMatchObject({ alg: 'ES256', typ: 'at+jwt' });
      const claims = claimsOf(res.body.access_token);
      // The same claims as a code exchange's token, for this sub-account's installation.
      expect(Object.keys(claims).sort()).toEqual(Object.keys(reference).sort());
      expect(claims).toMatchObject({
        iss: plaza.issuer,
        aud: `${plaza.baseUrl}/v1`,
        sub: sub.id,
        client_id: app.clientId,
        scope: 'contacts:read',
        plaza_account: sub.id,
        plaza_app: app.appId,
        plaza_installation: installed[sub.id],
      });
      expect(claims.exp - claims.iat).toBe(reference.exp - reference.iat);
    }
  });

  it("reads each sub-account's contacts with that sub-account's token only", async () => {
    const { agent, csrf } = await signedIn(admin);
    for (const sub of subs.slice(0, 2))
      await agent
        .post(`/v1/organizations/${sub.id}/contacts`)
        .set('x-csrf-token', csrf)
        .send({ name: `Patient of ${sub.name}`, email: `patient.${sub.id.toLowerCase()}@example.test` })
        .expect(201);
    for (const sub of subs.slice(0, 2)) {
      const res = await plaza.http.get('/v1/contacts').set(bearer(sets[sub.id].access_token)).expect(200);
      expect(res.body.data.map((c: { name: string }) => c.name)).toEqual([`Patient of ${sub.name}`]);
      expect(res.body.data.every((c: { accountId: string }) => c.accountId === sub.id)).toBe(true);
    }
    // Another sub-account's contact is not found with this token.
    const two = await plaza.http.get('/v1/contacts').set(bearer(sets[subs[1].id].access_token)).expect(200);
    await plaza.http
      .get(`/v1/contacts/${two.body.data[0].id}`)
      .set(bearer(sets[subs[0].id].access_token))
      .expect(404);
  });

  it('refreshes like any installation: rotation at the token endpoint, bound to the granted scopes', async () => {
    const config = await relyingParty(plaza, app);
    const first = sets[subs[0].id];
    const next = await client.refreshTokenGrant(config, first.refresh_token);
    expect(next.refresh_token).toBeDefined();
    expect(next.refresh_token).not.toBe(first.refresh_token);
    expect(claimsOf(next.access_token)).toMatchObject({
      plaza_account: subs[0].id,
      plaza_installation: installed[subs[0].id],
      scope: 'contacts:read',
    });
    await plaza.http.get('/v1/contacts').set(bearer(next.access_token)).expect(200);
    await expect(
      client.refreshTokenGrant(config, next.refresh_token!, { scope: 'contacts:read contacts:write' }),
    ).rejects.toMatchObject({ error: 'invalid_scope' });
    sets[subs[0].id] = { ...first, access_token: next.access_token, refresh_token: next.refresh_token! };
  });

  it('works through the SDK: the app lists its installations, gets tokens and reads the contacts', async () => {
    const sdk = createPlazaClient({
      plazaUrl: plaza.baseUrl,
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      redirectUri: CALLBACK,
    });
    const appApi = sdk.appApi();
    const ids: string[] = [];
    for await (const inst of appApi.installations.all({ limit: 1 })) ids.push(inst.id);
    expect(ids).toContain(installed[subs[0].id]);
    const tokens = await appApi.installations.tokens(installed[subs[0].id]);
    expect(tokens).toMatchObject({
      accountId: subs[0].id,
      installationId: installed[subs[0].id],
      scopes: ['contacts:read'],
    });
    const api = sdk.api(tokens);
    const contacts = await api.contacts.list();
    expect(contacts.data.map((c) => c.name)).toEqual([`Patient of ${subs[0].name}`]);
    // The refresh token it got works at the token endpoint, rotated.
    const renewed = await api.refresh();
    expect(renewed.refreshToken).not.toBe(tokens.refreshToken);
  });

  it("gives nothing for another app's, an unknown or an account token's request", async () => {
    const mine = await clientToken(app);
    const theirs = await clientToken(otherApp);
    // Another app's client credentials: its installations only.
    const other = await plaza.http
      .post(`/v1/app/installations/${installed[subs[0].id]}/token`)
      .set(bearer(theirs))
      .expect(404);
    expect(other.body.code).toBe('PLAZA_NOT_FOUND');
    await plaza.http
      .get('/v1/app/installations')
      .set(bearer(theirs))
      .expect(200, { data: [], nextCursor: null });
    await plaza.http.post('/v1/app/installations/inst_unknown/token').set(bearer(mine)).expect(404);
    // An installation's own access token is not the app's client credentials.
    await plaza.http
      .post(`/v1/app/installations/${installed[subs[0].id]}/token`)
      .set(bearer(sets[subs[0].id].access_token))
      .expect(403);
  });

  it("lists the app's installations to its developer organization, with account names", async () => {
    const agent = browserAgent(plaza);
    await agent
      .post('/v1/auth/login')
      .send({ email: app.developerPerson.email, password: app.developerPerson.password })
      .expect(200);
    const res = await agent
      .get(`/v1/organizations/${app.developer.org.id}/apps/${app.appId}/installations?limit=100`)
      .expect(200);
    for (const sub of [subs[0], subs[1]])
      expect(res.body.data).toContainEqual(
        expect.objectContaining({
          id: installed[sub.id],
          accountId: sub.id,
          accountName: sub.name,
          status: 'active',
          grantedScopes: ['contacts:read'],
        }),
      );
    // Not another organization's app.
    const foreign = await agent.get(
      `/v1/organizations/${app.developer.org.id}/apps/${otherApp.appId}/installations`,
    );
    expect(foreign.status).toBe(404);
  });

  it('uninstalls itself: the grant, its refresh tokens and its access tokens are refused at once', async () => {
    const token = await clientToken(app);
    const target = installed[subs[1].id];
    // Another app cannot uninstall it.
    await plaza.http
      .delete(`/v1/app/installations/${target}`)
      .set(bearer(await clientToken(otherApp)))
      .expect(404);
    await plaza.http.get('/v1/contacts').set(bearer(sets[subs[1].id].access_token)).expect(200);

    const res = await plaza.http.delete(`/v1/app/installations/${target}`).set(bearer(token)).expect(200);
    expect(res.body).toMatchObject({ id: target, accountId: subs[1].id, status: 'uninstalled' });
    await plaza.http.get('/v1/contacts').set(bearer(sets[subs[1].id].access_token)).expect(401);
    const config = await relyingParty(plaza, app);
    await expect(client.refreshTokenGrant(config, sets[subs[1].id].refresh_token)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
    await plaza.http.post(`/v1/app/installations/${target}/token`).set(bearer(token)).expect(404);
    await plaza.http.delete(`/v1/app/installations/${target}`).set(bearer(token)).expect(404);
    const { db } = plaza.core;
    const audit = await uninstallAudit(plaza, target);
    expect(audit).toMatchObject({
      actor_user_id: null,
      data: { appId: app.appId, reason: 'uninstalled_by_app' },
    });
    expect(
      await db.maybeOne(
        "SELECT 1 FROM events WHERE type = 'app.uninstalled' AND payload->>'installationId' = $1",
        [target],
      ),
    ).toBeDefined();
    // The other sub-account's installation is untouched.
    await plaza.http.get('/v1/contacts').set(bearer(sets[subs[0].id].access_token)).expect(200);
  });
});
