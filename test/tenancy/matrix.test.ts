import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnyRoute } from '../../server/http/route.ts';
import { newId } from '../../server/ids.ts';
import { SYSTEM_ACTOR } from '../../server/tenancy.ts';
import { png } from '../helpers/images.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signUp } from '../helpers/world.ts';
import { paidPayout } from '../ledger/helpers.ts';

/**
 * The cross-tenant matrix: every route that exists, called by a caller from
 * another organization with organization A's ids, must answer 403/404 and
 * never A's data. A route with a new path parameter needs one line in
 * PARAM_FIXTURES (how to find A's value for it); nothing else.
 */
interface World {
  owner: SignedIn;
  orgs: Record<'developer' | 'agency' | 'account' | 'subAccount', { id: string; name: string }>;
  keyId: string;
  keySecret: string;
  invitationId: string;
  invitationToken: string;
  /** Marketplace: a listed app of the developer org, installed and reviewed by the account. */
  marketplaceSlug: string;
  reviewId: string;
  /** Apps: an app of the developer org, its draft version with an icon, a notification. */
  appId: string;
  versionId: string;
  assetId: string;
  notificationId: string;
  /** Contacts: a contact of the account. */
  contactId: string;
  /** OAuth: the account's installation of the marketplace app. */
  installationId: string;
  /** Webhooks: an endpoint of the registry app, and its test message. */
  webhookEndpointId: string;
  webhookMessageId: string;
  payoutId: string;
  /** Agency: a sub-account template of the agency. */
  templateId: string;
  /** Branding: a custom domain of the agency. */
  domainId: string;
}

const PARAM_FIXTURES: Record<string, (a: World) => string> = {
  userId: (a) => a.owner.user.id,
  keyId: (a) => a.keyId,
  invitationId: (a) => a.invitationId,
  token: (a) => a.invitationToken,
  slug: (a) => a.marketplaceSlug,
  reviewId: (a) => a.reviewId,
  appId: (a) => a.appId,
  versionId: (a) => a.versionId,
  assetId: (a) => a.assetId,
  notificationId: (a) => a.notificationId,
  contactId: (a) => a.contactId,
  installationId: (a) => a.installationId,
  endpointId: (a) => a.webhookEndpointId,
  messageId: (a) => a.webhookMessageId,
  // Test users: A's account stands for a test account (B is refused on A's developer org first).
  accountId: (a) => a.orgs.account.id,
  // CLI sign-in codes are looked up for the signed-in person only.
  userCode: () => 'BCDF-GHJK',
  // Payments: the organization check comes first, so an id that does not exist still proves B is refused.
  subscriptionId: () => 'sub_not_there',
  sessionId: () => 'cs_sbx_not_there',
  invoiceId: () => 'inv_not_there',
  // Ledger: a paid payout of A's agency (earnings routes serve developer and agency orgs).
  payoutId: (a) => a.payoutId,
  year: () => String(new Date().getUTCFullYear()),
  ruleId: () => 'rsr_not_there',
  // Plugin settings: the prefs fixture plugin (settings for every org kind) is enabled here.
  plugin: () => 'prefs',
  // Contacts: a custom field key (the organization check comes first).
  fieldKey: () => 'not_there',
  // Agency: A's template; a price change and a sub-account of A (the organization check comes first).
  templateId: (a) => a.templateId,
  domainId: (a) => a.domainId,
  // The organization check comes first, so an id that does not exist still proves B is refused.
  sendingDomainId: () => 'sdm_not_there',
  // Brand assets are public (pages and emails show them): no tenant to cross.
  brandAssetId: () => 'bast_not_there',
  changeId: () => 'apc_not_there',
  subAccountId: (a) => a.orgs.subAccount.id,
};

let plaza: TestPlaza;
let a: World;
let b: World;

async function world(label: string): Promise<World> {
  const owner = await signUp(plaza, { name: `${label} Owner` });
  const developer = await createOrg(owner, 'developer', `${label} Developer Org`);
  const agency = await createOrg(owner, 'agency', `${label} Agency`);
  const account = await createOrg(owner, 'account', `${label} Account`);
  const sub = await owner.agent
    .post(`/v1/organizations/${agency.id}/sub-accounts`)
    .set('x-csrf-token', owner.csrf)
    .send({ name: `${label} Sub-account` })
    .expect(201);
  const key = await owner.agent
    .post(`/v1/organizations/${developer.id}/api-keys`)
    .set('x-csrf-token', owner.csrf)
    .send({ name: `${label} key`, role: 'owner' })
    .expect(201);
  const inviteeEmail = `${label.toLowerCase()}.invitee.${Date.now()}@example.test`;
  const inv = await owner.agent
    .post(`/v1/organizations/${developer.id}/invitations`)
    .set('x-csrf-token', owner.csrf)
    .send({ email: inviteeEmail })
    .expect(201);
  let invitationToken = '';
  for (let i = 0; i < 100 && !invitationToken; i++) {
    const mail = (await plaza.core.mail.mailbox(50, inviteeEmail))[0];
    if (mail) invitationToken = /\/invitations\/([A-Za-z0-9_-]+)/.exec(mail.text)![1];
    else await new Promise((r) => setTimeout(r, 50));
  }
  // Marketplace: a listing published the way the apps service does, installed and reviewed by the account.
  const marketplaceSlug = `${label.toLowerCase()}-matrix-app`;
  const appId = newId('app');
  await plaza.core.db.transaction((tx) =>
    plaza.core.marketplace.publish(tx, {
      appId,
      slug: marketplaceSlug,
      name: `${label} Matrix App`,
      tagline: '',
      description: '',
      category: 'other',
      pricing: { type: 'free' },
      scopes: [],
      developer: { organizationId: developer.id, name: developer.name },
      iconUrl: null,
      screenshotUrls: [],
      supportUrl: null,
      privacyUrl: null,
      termsUrl: null,
      versionId: newId('ver'),
      versionNumber: 1,
      publishedAt: new Date().toISOString(),
    }),
  );
  const installation = await plaza.core.installations.create({
    accountId: account.id,
    appId,
    versionId: 'ver_matrix',
    grantedScopes: [],
    actor: { ...SYSTEM_ACTOR, userId: owner.user.id },
  });
  const review = await owner.agent
    .put(`/v1/organizations/${account.id}/marketplace/apps/${marketplaceSlug}/review`)
    .set('x-csrf-token', owner.csrf)
    .send({ rating: 4, body: 'matrix' })
    .expect(200);
  // Apps: an app with a draft version and an uploaded icon; a notification for the owner.
  const created = await owner.agent
    .post(`/v1/organizations/${developer.id}/apps`)
    .set('x-csrf-token', owner.csrf)
    .send({ name: `${label} Registry App`, slug: `${label.toLowerCase()}-registry-app` })
    .expect(201);
  const registryAppId = created.body.app.id;
  const versionId = created.body.version.id;
  const withIcon = await owner.agent
    .put(`/v1/organizations/${developer.id}/apps/${registryAppId}/versions/${versionId}/icon`)
    .set('x-csrf-token', owner.csrf)
    .set('content-type', 'image/png')
    .send(png(128, 128))
    .expect(200);
  const notificationId = await plaza.core.db.transaction(async (tx) => {
    await plaza.core.notifications.notifyUsers(tx, developer.id, [owner.user.id], {
      kind: 'matrix',
      title: `${label} notification`,
    });
    const row = await tx.one('SELECT id FROM notifications WHERE user_id = $1', [owner.user.id]);
    return row.id as string;
  });
  const contact = await owner.agent
    .post(`/v1/organizations/${account.id}/contacts`)
    .set('x-csrf-token', owner.csrf)
    .send({ name: `${label} Contact`, email: `${label.toLowerCase()}.contact@example.test` })
    .expect(201);
  // Webhooks: an endpoint of the registry app (loopback, nothing listens) and a test message to it.
  const endpoint = await owner.agent
    .post(`/v1/organizations/${developer.id}/apps/${registryAppId}/webhook-endpoints`)
    .set('x-csrf-token', owner.csrf)
    .send({ url: `http://127.0.0.1:9/${label.toLowerCase()}-hooks` })
    .expect(201);
  const testMessage = await owner.agent
    .post(
      `/v1/organizations/${developer.id}/apps/${registryAppId}/webhook-endpoints/${endpoint.body.endpoint.id}/test`,
    )
    .set('x-csrf-token', owner.csrf)
    .expect(201);
  const template = await owner.agent
    .post(`/v1/organizations/${agency.id}/templates`)
    .set('x-csrf-token', owner.csrf)
    .send({ name: `${label} Template` })
    .expect(201);
  const domain = await owner.agent
    .post(`/v1/organizations/${agency.id}/domains`)
    .set('x-csrf-token', owner.csrf)
    .send({ hostname: `app.${label.toLowerCase()}-agency.test` })
    .expect(201);
  return {
    domainId: domain.body.id,
    templateId: template.body.id,
    webhookEndpointId: endpoint.body.endpoint.id,
    webhookMessageId: testMessage.body.id,
    payoutId: await paidPayout(plaza, owner, agency.id, developer.id),
    installationId: installation.id,
    contactId: contact.body.id,
    appId: registryAppId,
    versionId,
    assetId: withIcon.body.icon.id,
    notificationId,
    owner,
    orgs: { developer, agency, account, subAccount: sub.body },
    keyId: key.body.apiKey.id,
    keySecret: key.body.secret,
    invitationId: inv.body.id,
    invitationToken,
    marketplaceSlug,
    reviewId: review.body.id,
  };
}

function orgFor(route: AnyRoute, w: World) {
  const kinds = route.access.kind === 'org' ? route.access.orgKinds : undefined;
  if (kinds?.includes('agency')) return w.orgs.agency;
  if (kinds?.includes('account')) return w.orgs.account;
  return w.orgs.developer;
}

function pathFor(route: AnyRoute, w: World): string {
  return route.path.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    if (name === 'orgId') return orgFor(route, w).id;
    const fixture = PARAM_FIXTURES[name];
    if (!fixture)
      throw new Error(
        `route ${route.method.toUpperCase()} ${route.path}: add a PARAM_FIXTURES line for :${name}`,
      );
    return fixture(w);
  });
}

function secretsOf(w: World): string[] {
  return [
    ...Object.values(w.orgs).flatMap((o) => [o.id, o.name]),
    w.owner.user.email,
    w.owner.user.id,
    w.keyId,
    w.invitationId,
    w.appId,
    w.versionId,
    w.assetId,
    w.contactId,
    w.webhookEndpointId,
    w.webhookMessageId,
    w.templateId,
    w.domainId,
  ];
}

beforeAll(async () => {
  // Webhook endpoints of the worlds point at loopback (WEBHOOKS_ALLOW_PRIVATE).
  plaza = await startPlaza({
    WEBHOOKS_ALLOW_PRIVATE: 'true',
    // A plugin with per-organization settings, so the host's settings routes are walked with real values.
    PLAZA_PLUGINS: 'prefs',
    PLAZA_PLUGINS_DIR: 'test/fixtures/plugins',
  });
  a = await world('Alpha');
  b = await world('Beta');
});
afterAll(() => plaza.close());

describe('cross-tenant matrix', () => {
  it('covers every route by its access kind', () => {
    const kinds = new Set(plaza.core.routes.map((r) => r.access.kind));
    expect(kinds).toEqual(new Set(['public', 'user', 'org', 'platform', 'app', 'app_client']));
    for (const route of plaza.core.routes) expect(() => pathFor(route, a)).not.toThrow();
  });

  it('a member of organization B gets 403/404 and none of A’s data on every organization route of A', async () => {
    const orgRoutes = plaza.core.routes.filter((r) => r.access.kind === 'org');
    expect(orgRoutes.length).toBeGreaterThan(10);
    for (const route of orgRoutes) {
      for (const via of ['session', 'api key of B'] as const) {
        const path = pathFor(route, a);
        let req = plaza.http[route.method](path);
        req =
          via === 'session'
            ? req.set('Cookie', await cookieOf(b.owner)).set('x-csrf-token', b.owner.csrf)
            : req.set('Authorization', `Bearer ${b.keySecret}`);
        const res = await req.send({});
        const label = `${route.method.toUpperCase()} ${route.path} as B (${via}) -> ${res.status}`;
        expect([403, 404], label).toContain(res.status);
        // The problem's `instance` echoes the path the caller sent; anything else of A's is a leak.
        const text = JSON.stringify({ ...res.body, instance: undefined });
        for (const s of secretsOf(a)) expect(text.includes(s), `${label} leaks ${s}`).toBe(false);
      }
    }
  });

  it('the same GET routes answer 200 for A’s owner (the matrix uses real ids)', async () => {
    for (const route of plaza.core.routes.filter((r) => r.access.kind === 'org' && r.method === 'get')) {
      const res = await plaza.http[route.method](pathFor(route, a)).set('Cookie', await cookieOf(a.owner));
      expect(res.status, `${route.method.toUpperCase()} ${route.path}`).toBe(200);
    }
  });

  it('platform routes refuse people without a platform role', async () => {
    for (const route of plaza.core.routes.filter((r) => r.access.kind === 'platform')) {
      const res = await plaza.http[route.method](pathFor(route, a))
        .set('Cookie', await cookieOf(b.owner))
        .set('x-csrf-token', b.owner.csrf)
        .send({});
      expect(res.status, `${route.method.toUpperCase()} ${route.path}`).toBe(403);
    }
  });

  it('user routes answer only about the caller', async () => {
    const me = await plaza.http
      .get('/v1/me')
      .set('Cookie', await cookieOf(b.owner))
      .expect(200);
    const text = JSON.stringify(me.body);
    for (const s of secretsOf(a)) expect(text).not.toContain(s);
    const log = await plaza.http
      .get('/v1/me/audit-log')
      .set('Cookie', await cookieOf(b.owner))
      .expect(200);
    expect(log.body.data.every((e: { actorUserId: string }) => e.actorUserId === b.owner.user.id)).toBe(true);
  });

  it('every non-public route refuses anonymous callers with 401', async () => {
    for (const route of plaza.core.routes.filter((r) => r.access.kind !== 'public')) {
      const res = await plaza.http[route.method](pathFor(route, a)).send({});
      expect(res.status, `${route.method.toUpperCase()} ${route.path}`).toBe(401);
    }
  });
});

const cookies = new Map<SignedIn, string>();
/** The session cookie of a signed-in test person (read from their agent's jar). */
async function cookieOf(who: SignedIn): Promise<string> {
  let c = cookies.get(who);
  if (!c) {
    const jar = (who.agent as any).jar;
    const at = { domain: '127.0.0.1', path: '/', secure: false, script: false };
    const cookie = jar.getCookie('plaza_session', at);
    c = `plaza_session=${cookie.value}; plaza_session.sig=${jar.getCookie('plaza_session.sig', at).value}`;
    cookies.set(who, c);
  }
  return c;
}
