import { createHmac } from 'node:crypto';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OrgContext } from '../../server/tenancy.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { type Person, person, registerApp, type SignedIn, signUp, type TestApp } from '../helpers/world.ts';
import { waitFor } from './harness.ts';

/**
 * The `paywall` fixture plugin on a real core: what it adds to the core
 * modules' extension points (installation.gate, marketplace.pricing,
 * oauth.theme) takes effect; adding after start is refused; its own error
 * codes reach clients; jobs.repeat, the raw-body reader, ctx.audit and
 * ctx.mail work from plugin code.
 */
const SECRET = 'paywall-webhook-secret';
let plaza: TestPlaza;
let app: TestApp;
let admin: Person;
let agency: OrgContext;
let sub: string;
let someone: SignedIn;

beforeAll(async () => {
  plaza = await startPlaza({
    PLAZA_PLUGINS: 'paywall',
    PLAZA_PLUGINS_DIR: 'test/fixtures/plugins',
    PLAZA_PLUGIN_PAYWALL_WEBHOOK_SECRET: SECRET,
    PLAZA_DEV_MAILBOX: 'true',
  });
  const { core } = plaza;
  app = await registerApp(plaza, { name: 'Priced App', redirectUris: ['https://priced.example.com/cb'] });
  await core.db.query("INSERT INTO paywall_prices VALUES ($1, 1900, 'eur')", [app.appId]);
  admin = await person(plaza, 'Ada Agency');
  const ag = await core.organizations.create(admin.actor, { name: 'Paying Agency', kind: 'agency' });
  agency = await core.organizations.resolveContext(admin.actor, ag.id);
  sub = (await core.organizations.createSubAccount(agency, { name: 'Paying Shop' })).id;
  someone = await signUp(plaza, { name: 'Sam' });
});
afterAll(() => plaza?.close());

const webhook = (body: object, secret = SECRET) => {
  const raw = JSON.stringify(body);
  return plaza.http
    .post('/v1/paywall/webhook')
    .set('content-type', 'application/json')
    .set('x-paywall-signature', createHmac('sha256', secret).update(raw).digest('hex'))
    .send(raw);
};

describe('extension points', () => {
  it('lists each point with its owner and who added to it', () => {
    const points = Object.fromEntries(plaza.core.extensions.list().map((p) => [p.id, p]));
    // Core modules may add to them too (payments gates paid installs).
    expect(points['installation.gate']).toMatchObject({ owner: 'installations' });
    expect(points['installation.gate'].added).toContain('plugin:paywall');
    expect(points['marketplace.pricing']).toMatchObject({ owner: 'marketplace' });
    expect(points['marketplace.pricing'].added).toContain('plugin:paywall');
    expect(points['oauth.theme']).toMatchObject({ owner: 'oauth', single: true, added: ['plugin:paywall'] });
  });

  it("marketplace.pricing: the marketplace quotes the plugin's price", async () => {
    expect(await plaza.core.marketplace.quote(app.appId, sub)).toEqual({
      amount: 1900,
      currency: 'eur',
      interval: 'month',
      label: '19.00 EUR / month',
    });
    const other = await registerApp(plaza, {
      name: 'Free App',
      redirectUris: ['https://free.example.com/cb'],
    });
    expect(await plaza.core.marketplace.quote(other.appId, sub)).toBeUndefined();
  });

  it('installation.gate: a priced app is refused until paid; a signed webhook (raw body) pays', async () => {
    const refused = await plaza.core.agency.bulkInstall(agency, { appId: app.appId, subAccountIds: [sub] });
    expect(refused.results[0]).toEqual({
      subAccountId: sub,
      status: 'not_installable',
      installationId: null,
      detail: 'subscribe to this app before installing it',
    });
    // Nothing half-made: no grant for the refused sub-account.
    const grants = await plaza.core.db.query(
      "SELECT 1 FROM oauth_payloads WHERE model = 'Grant' AND payload->>'accountId' = $1",
      [sub],
    );
    expect(grants).toHaveLength(0);

    // A forged webhook gets the plugin's own code in a problem+json, and pays nothing.
    const forged = await webhook(
      { accountId: sub, appId: app.appId, email: 'ada@example.test' },
      'wrong-secret',
    );
    expect(forged.status).toBe(401);
    expect(forged.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(forged.body).toMatchObject({
      code: 'PLAZA_PAYWALL_BAD_SIGNATURE',
      title: 'Webhook signature does not match',
      type: 'https://plaza.dev/problems/paywall-bad-signature',
    });

    await webhook({ accountId: sub, appId: app.appId, email: 'ada@example.test' }).expect(204);
    const installed = await plaza.core.agency.bulkInstall(agency, { appId: app.appId, subAccountIds: [sub] });
    expect(installed.results[0]).toMatchObject({ subAccountId: sub, status: 'installed' });

    // ctx.audit wrote in the webhook's transaction; ctx.mail queued the email.
    const audit = await plaza.core.db.query(
      "SELECT actor_user_id FROM audit_events WHERE action = 'paywall.paid' AND organization_id = $1 AND target_id = $2",
      [sub, app.appId],
    );
    expect(audit).toEqual([{ actor_user_id: null }]);
    await waitFor('the email', async () =>
      (await plaza.core.mail.mailbox()).find((m) => m.to === 'ada@example.test'),
    );
  });

  it('plugin error codes are in the OpenAPI problem codes', async () => {
    const doc = (await plaza.http.get('/openapi.json').expect(200)).body;
    expect(doc.components.schemas.Problem.properties.code.enum).toEqual(
      expect.arrayContaining([
        'PLAZA_NOT_FOUND',
        'PLAZA_PAYWALL_PAYMENT_REQUIRED',
        'PLAZA_PAYWALL_BAD_SIGNATURE',
      ]),
    );
  });

  it('oauth.theme: the OAuth pages take the theme on the branded host only', async () => {
    const branded = await supertest(plaza.app.callback())
      .get('/oauth/interaction/not-a-real-one')
      .set('Host', 'brand.example.test');
    expect(branded.text).toContain('Brandy Apps');
    expect(branded.text).toContain('#aa3300');
    const plain = await plaza.http.get('/oauth/interaction/not-a-real-one');
    expect(plain.text).not.toContain('Brandy Apps');
    expect(plain.text).toContain('Plaza');
  });

  it('refuses additions once Plaza has started (PLAZA_EXTENSION_SEALED)', async () => {
    const res = await someone.agent
      .post('/v1/paywall/late-extension')
      .set('x-csrf-token', someone.csrf)
      .expect(200);
    expect(res.body.code).toBe('PLAZA_EXTENSION_SEALED');
    expect(res.body.message).toMatch(/plugin:paywall cannot add to extension point oauth.theme/);
  });

  it("ctx.audit refuses actions outside the plugin's namespace", async () => {
    const res = await someone.agent
      .post('/v1/paywall/bad-audit')
      .set('x-csrf-token', someone.csrf)
      .expect(200);
    expect(res.body.refused).toMatch(/audits actions named "paywall.<what>"/);
  });

  it('jobs.repeat runs the job on its schedule', async () => {
    await waitFor('two sweeps', async () => {
      const rows = await plaza.core.db.query('SELECT 1 FROM paywall_sweeps');
      return rows.length >= 2 ? rows : undefined;
    });
  });
});
