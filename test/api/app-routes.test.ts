import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  authorizationUrl,
  bearer,
  browserAgent,
  claimsOf,
  exchange,
  installByConsent,
  relyingParty,
} from '../helpers/oauth.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import {
  account,
  type InstalledApp,
  type Person,
  person,
  registerApp,
  type TestApp,
  withInstalledApp,
} from '../helpers/world.ts';

/**
 * The app API with real tokens: apps are registered and reviewed through the
 * services, installed through Plaza's consent pages, and exchange their codes
 * with openid-client, as in test/oauth. Each app route needs its scope, works
 * in the token's account only, and takes no other caller.
 */
const CALLBACK = 'https://crm.example.com/oauth/callback';
let plaza: PlazaServer;
let owner: Person;
/** Contacts, account and people, users:read_email optional. */
let crm: TestApp;
/** contacts:read only. */
let reader: TestApp;
let shop: { id: string; name: string };
let other: { id: string; name: string };
let sub: { id: string; name: string };
let agency: { id: string; name: string };
/** Access tokens: crm in shop (all scopes), crm in other (no read_email), crm in the sub-account, reader in shop. */
const tokens: Record<'full' | 'noEmail' | 'sub' | 'read', InstalledApp> = {} as never;

beforeAll(async () => {
  plaza = await startPlazaServer({ workers: false });
  owner = await person(plaza, 'Olive Owner');
  crm = await registerApp(plaza, {
    name: 'Pipeline CRM',
    redirectUris: [CALLBACK],
    scopes: [
      { name: 'account:read' },
      { name: 'contacts:read' },
      { name: 'contacts:write' },
      { name: 'users:read' },
      { name: 'users:read_email', optional: true },
    ],
  });
  reader = await registerApp(plaza, { name: 'Contact Reader', redirectUris: [CALLBACK] });
  shop = (await account(plaza, owner, 'Corner Bakery')).org;
  other = (await account(plaza, owner, 'Other Bakery')).org;
  const ag = await plaza.core.organizations.create(owner.actor, { name: 'Bright Agency', kind: 'agency' });
  agency = ag;
  const agencyCtx = await plaza.core.organizations.resolveContext(owner.actor, ag.id);
  sub = await plaza.core.organizations.createSubAccount(agencyCtx, { name: 'Client Dental' });
  const all = 'account:read contacts:read contacts:write users:read users:read_email';
  tokens.full = await withInstalledApp(plaza, {
    app: crm,
    owner,
    account: shop,
    scope: all,
    optional: ['users:read_email'],
  });
  tokens.noEmail = await withInstalledApp(plaza, {
    app: crm,
    owner,
    account: other,
    scope: all,
    optional: [],
  });
  tokens.sub = await withInstalledApp(plaza, { app: crm, owner, account: sub, scope: all, optional: [] });
  tokens.read = await withInstalledApp(plaza, { app: reader, owner, account: shop });
}, 60_000);
afterAll(() => plaza?.close());

describe('scopes', () => {
  it('every app route refuses a token without its scope, naming the scope (403 + WWW-Authenticate)', async () => {
    expect(claimsOf(tokens.read.accessToken).scope).toBe('contacts:read');
    const routes = plaza.core.routes.filter((r) => r.access.kind === 'app');
    expect(routes.length).toBe(9);
    for (const route of routes) {
      const scope = route.access.kind === 'app' ? route.access.scope : null;
      // POST /v1/app/usage takes any installation token: the customer approved the cap, not a scope.
      if (scope === 'contacts:read' || scope === null) continue;
      const path = route.path.replace(':contactId', 'ct_unknown');
      const res = await plaza.http[route.method](path).set(tokens.read.as).send({ name: 'X' });
      const label = `${route.method.toUpperCase()} ${route.path}`;
      expect(res.status, label).toBe(403);
      expect(res.body).toMatchObject({
        code: 'PLAZA_SCOPE_MISSING',
        requiredScope: scope,
        grantedScopes: ['contacts:read'],
        fields: [{ field: 'scope', reason: `${scope} is required` }],
      });
      expect(res.body.detail).toContain(scope);
      expect(res.headers['www-authenticate'], label).toContain(
        `error="insufficient_scope", scope="${scope}"`,
      );
    }
    // What the token does carry works: contacts, and the account's custom-field definitions.
    await plaza.http.get('/v1/contacts').set(tokens.read.as).expect(200);
    await plaza.http.get('/v1/contact-fields').set(tokens.read.as).expect(200);
  });
});

describe('contacts through the app API', () => {
  it('an app creates, reads, changes and deletes contacts of its account, with contact.* events saying it was the app', async () => {
    const created = await plaza.http
      .post('/v1/contacts')
      .set(tokens.full.as)
      .send({ name: 'Lena Lead', email: 'Lena@Example.com', phone: '+1 555 200 3000', tags: ['Imported'] })
      .expect(201);
    const c = created.body;
    expect(c).toMatchObject({
      accountId: shop.id,
      email: 'lena@example.com',
      phone: '+15552003000',
      tags: ['imported'],
      createdBy: {
        type: 'app',
        appId: crm.appId,
        installationId: tokens.full.installationId,
        name: 'Pipeline CRM',
      },
    });
    const [event] = await plaza.core.db.query(
      "SELECT organization_id, payload FROM events WHERE type = 'contact.created' AND payload->'contact'->>'id' = $1",
      [c.id],
    );
    expect(event.organization_id).toBe(shop.id);
    expect(event.payload.source).toEqual({
      type: 'app',
      appId: crm.appId,
      installationId: tokens.full.installationId,
    });

    // The other app of the account reads it; the people of the account see who made it.
    const listed = await plaza.http.get('/v1/contacts').query({ q: 'lena' }).set(tokens.read.as).expect(200);
    expect(listed.body.data.map((x: { id: string }) => x.id)).toEqual([c.id]);
    await plaza.http.get(`/v1/contacts/${c.id}`).set(tokens.read.as).expect(200);
    const ctx = await plaza.core.organizations.resolveContext(owner.actor, shop.id);
    expect((await plaza.core.contacts.get(ctx, c.id)).createdBy).toMatchObject({
      type: 'app',
      name: 'Pipeline CRM',
    });

    const patched = await plaza.http
      .patch(`/v1/contacts/${c.id}`)
      .set(tokens.full.as)
      .send({ customFields: { stage: 'qualified' } })
      .expect(200);
    expect(patched.body).toMatchObject({ customFields: { stage: 'qualified' }, updatedBy: { type: 'app' } });
    // Validation is the same as for people.
    const bad = await plaza.http
      .patch(`/v1/contacts/${c.id}`)
      .set(tokens.full.as)
      .send({ phone: 'call me' })
      .expect(400);
    expect(bad.body.fields[0].field).toBe('body.phone');

    await plaza.http.delete(`/v1/contacts/${c.id}`).set(tokens.full.as).expect(204);
    await plaza.http.get(`/v1/contacts/${c.id}`).set(tokens.read.as).expect(404);
    const types = await plaza.core.db.query(
      `SELECT type FROM events WHERE organization_id = $1 AND type LIKE 'contact.%'
         AND (payload->'contact'->>'id' = $2 OR payload->>'contactId' = $2) ORDER BY id`,
      [shop.id, c.id],
    );
    expect(types.map((t) => t.type)).toEqual(['contact.created', 'contact.updated', 'contact.deleted']);
    // An app's changes are not people's: the account's audit log has none of them.
    const audited = await plaza.core.db.query('SELECT 1 FROM audit_events WHERE target_id = $1', [c.id]);
    expect(audited).toHaveLength(0);
  });

  it("a token reaches its own account only: another account's contacts are not found", async () => {
    const theirs = await plaza.http
      .post('/v1/contacts')
      .set(tokens.noEmail.as)
      .send({ name: 'Private Patient', email: 'patient@other.test' })
      .expect(201);
    for (const [method, body] of [
      ['get', undefined],
      ['patch', { name: 'Stolen' }],
      ['delete', undefined],
    ] as const) {
      const res = await plaza.http[method](`/v1/contacts/${theirs.body.id}`).set(tokens.full.as).send(body);
      expect(res.status, method).toBe(404);
      expect(JSON.stringify(res.body)).not.toContain('patient@other.test');
    }
    const list = await plaza.http.get('/v1/contacts').set(tokens.full.as).expect(200);
    expect(JSON.stringify(list.body)).not.toContain('patient@other.test');
    const still = await plaza.http.get(`/v1/contacts/${theirs.body.id}`).set(tokens.noEmail.as).expect(200);
    expect(still.body.name).toBe('Private Patient');
  });
});

describe('account and people', () => {
  it('GET /v1/account describes the token’s account, with the owning agency’s brand for a sub-account', async () => {
    const mine = await plaza.http.get('/v1/account').set(tokens.full.as).expect(200);
    expect(mine.body).toMatchObject({
      id: shop.id,
      name: 'Corner Bakery',
      agency: null,
      testAccount: false,
      plan: null,
      locale: null,
    });
    const theirs = await plaza.http.get('/v1/account').set(tokens.sub.as).expect(200);
    expect(theirs.body).toMatchObject({
      id: sub.id,
      name: 'Client Dental',
      agency: { id: agency.id, brandName: 'Bright Agency' },
    });
  });

  it('GET /v1/users lists the account’s people, with emails only under users:read_email', async () => {
    const withEmail = await plaza.http.get('/v1/users').set(tokens.full.as).expect(200);
    expect(withEmail.body.data).toEqual([
      expect.objectContaining({
        userId: owner.user.id,
        name: 'Olive Owner',
        email: owner.email,
        role: 'owner',
      }),
    ]);
    expect(claimsOf(tokens.noEmail.accessToken).scope.split(' ')).not.toContain('users:read_email');
    const without = await plaza.http.get('/v1/users').set(tokens.noEmail.as).expect(200);
    expect(without.body.data).toHaveLength(1);
    expect(without.body.data[0]).toMatchObject({ userId: owner.user.id, name: 'Olive Owner', role: 'owner' });
    expect(without.body.data[0]).not.toHaveProperty('email');
    expect(JSON.stringify(without.body)).not.toContain(owner.email);
  });
});

describe('who may call', () => {
  it('a client-credentials token is refused on account routes and accepted on the app’s own route', async () => {
    const config = await relyingParty(plaza, crm);
    const { access_token: token } = await client.clientCredentialsGrant(config);
    expect(claimsOf(token).plaza_account).toBeUndefined();
    for (const path of ['/v1/contacts', '/v1/account', '/v1/users']) {
      const res = await plaza.http.get(path).set(bearer(token)).expect(403);
      expect(res.body.code).toBe('PLAZA_FORBIDDEN');
      expect(res.body.detail).toContain('client-credentials');
    }
    await plaza.http.post('/v1/contacts').set(bearer(token)).send({ name: 'Nobody' }).expect(403);
    const self = await plaza.http.get('/v1/app').set(bearer(token)).expect(200);
    expect(self.body).toMatchObject({
      appId: crm.appId,
      clientId: crm.clientId,
      activeInstallations: 3,
      liveVersion: { id: crm.versionId, number: 1 },
      installUrl: null,
      webhookEndpoints: [],
    });
    expect(self.body.liveVersion.scopes.map((s: { name: string }) => s.name).sort()).toEqual(
      [...crm.scopes].sort(),
    );
    // An installation's token is not the app itself.
    const refused = await plaza.http.get('/v1/app').set(tokens.full.as).expect(403);
    expect(refused.body.detail).toContain('client-credentials token');
  });

  it("people routes refuse an app's real token, and app routes people's credentials", async () => {
    const res = await plaza.http.get(`/v1/organizations/${shop.id}/contacts`).set(tokens.full.as).expect(401);
    expect(res.body.detail).toContain('OAuth access tokens are for the app API');
    await plaza.http.get('/v1/me').set(tokens.full.as).expect(401);
  });

  /** A new person's new account with the reader app installed through the consent page, and its tokens. */
  async function readerInstalled(name: string, accountName: string) {
    const who = await person(plaza, name);
    const org = (await account(plaza, who, accountName)).org;
    const config = await relyingParty(plaza, reader);
    const start = await authorizationUrl(config, CALLBACK, 'contacts:read');
    const set = await exchange(
      config,
      await installByConsent(plaza, browserAgent(plaza), start, who, org.id),
      start,
    );
    return { who, org, set };
  }

  it('a revoked installation’s token is refused at once with invalid_token', async () => {
    const { who: gone, org: shed, set } = await readerInstalled('Gus Gone', 'Garden Shed');
    await plaza.http.get('/v1/contacts').set(bearer(set.access_token)).expect(200);
    const ctx = await plaza.core.organizations.resolveContext(gone.actor, shed.id);
    await plaza.core.oauth.uninstall(ctx, claimsOf(set.access_token).plaza_installation);
    const res = await plaza.http.get('/v1/contacts').set(bearer(set.access_token)).expect(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(res.body.detail).toContain('invalid, expired or revoked');
  });

  it('a token accepted before is refused once it has expired (verified tokens are kept per process)', async () => {
    const { set } = await readerInstalled('Lena Late', 'Beach Hut');
    await plaza.http.get('/v1/contacts').set(bearer(set.access_token)).expect(200);
    await plaza.http.get('/v1/contacts').set(bearer(set.access_token)).expect(200);
    // Only the clock moves: a day on, far past the token's lifetime.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 86_400_000 });
    try {
      const res = await plaza.http.get('/v1/contacts').set(bearer(set.access_token)).expect(401);
      expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('rate limits', () => {
  it('per installation and per app: RateLimit-* headers, 429 with Retry-After', async () => {
    const limited = await startPlazaServer({
      workers: false,
      env: { PLAZA_APP_RATE_LIMIT_PER_MINUTE: '3', PLAZA_APP_RATE_LIMIT_PER_APP_PER_MINUTE: '5' },
    });
    try {
      const app = await registerApp(limited, { redirectUris: [CALLBACK] });
      const config = await relyingParty(limited, app);
      const who = await person(limited);
      const agent = browserAgent(limited);
      const tokenFor = async (name: string) => {
        const org = (await account(limited, who, name)).org;
        const start = await authorizationUrl(config, CALLBACK, 'contacts:read');
        return (await exchange(config, await installByConsent(limited, agent, start, who, org.id), start))
          .access_token;
      };
      const first = await tokenFor('First Shop');
      const second = await tokenFor('Second Shop');
      for (let i = 0; i < 3; i++) {
        const ok = await limited.http.get('/v1/contacts').set(bearer(first)).expect(200);
        expect(ok.headers['ratelimit-limit']).toBe('3');
        expect(ok.headers['ratelimit-remaining']).toBe(String(2 - i));
        expect(Number(ok.headers['ratelimit-reset'])).toBeGreaterThan(0);
      }
      const refused = await limited.http.get('/v1/contacts').set(bearer(first)).expect(429);
      expect(refused.body.code).toBe('PLAZA_RATE_LIMITED');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
      // The second installation has its own budget, until the app's (5 a minute) runs out.
      await limited.http.get('/v1/contacts').set(bearer(second)).expect(200);
      const appLevel = await limited.http.get('/v1/contacts').set(bearer(second)).expect(429);
      expect(appLevel.headers['ratelimit-limit']).toBe('5');
    } finally {
      await limited.close();
    }
  });
});
