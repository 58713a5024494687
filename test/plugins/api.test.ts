import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raceHttp } from '../helpers/concurrency.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { linkToken, mailTo, verifyEmail } from '../helpers/email.ts';
import { type PlazaServer, startPlazaServer } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signUp } from '../helpers/world.ts';
import { waitFor } from './harness.ts';

/**
 * The plugin API's settings, limits, money and mail parts, through the
 * `tiers` fixture plugin on a real core (PostgreSQL, HTTP): per-organization
 * settings and their host routes, the organization.limits extension point
 * under concurrent creates, ctx.ledger and ctx.payments (sandbox provider),
 * ctx.orgs and plugin email templates.
 */
const TIERS = {
  PLAZA_PLUGINS: 'tiers',
  PLAZA_PLUGINS_DIR: 'test/fixtures/plugins',
  PLAZA_DEV_MAILBOX: 'true',
};
let database: TestDatabase;
let plaza: PlazaServer;
let ann: SignedIn;
let shop: { id: string };

const settingsOf = (who: SignedIn, orgId: string) =>
  who.agent.get(`/v1/organizations/${orgId}/plugins/tiers/settings`);
const saveSettings = (who: SignedIn, orgId: string, values: Record<string, unknown>) =>
  who.agent
    .put(`/v1/organizations/${orgId}/plugins/tiers/settings`)
    .set('x-csrf-token', who.csrf)
    .send({ values });

beforeAll(async () => {
  database = await createTestDatabase();
  plaza = await startPlazaServer({ database, env: TIERS });
  ann = await signUp(plaza, { name: 'Ann Admin' });
  shop = await createOrg(ann, 'account', 'Tiered Shop');
}, 60_000);
afterAll(async () => {
  await plaza?.close();
  await database?.drop();
});

describe('per-organization settings', () => {
  it('reads defaults, saves a change, and answers the form’s JSON Schema', async () => {
    const first = await settingsOf(ann, shop.id).expect(200);
    expect(first.body.values).toEqual({
      plan: 'free',
      maxContacts: 1000,
      maxSeats: 50,
      maxApps: 100,
      greeting: 'Welcome',
      discount: 0,
      invoicesByEmail: true,
    });
    expect(first.body.schema.properties.plan).toMatchObject({ enum: ['free', 'pro'], default: 'free' });
    expect(first.body.schema.properties.maxContacts).toMatchObject({ type: 'integer', default: 1000 });
    expect(first.body.schema.properties.invoicesByEmail).toMatchObject({ type: 'boolean' });

    const saved = await saveSettings(ann, shop.id, { plan: 'pro', greeting: 'Hi' }).expect(200);
    expect(saved.body.values).toMatchObject({ plan: 'pro', greeting: 'Hi', maxContacts: 1000 });
    expect((await settingsOf(ann, shop.id).expect(200)).body.values).toMatchObject({ plan: 'pro' });

    const audit = await ann.agent.get(`/v1/organizations/${shop.id}/audit-log`).expect(200);
    expect(audit.body.data[0]).toMatchObject({
      action: 'tiers.settings_updated',
      data: { changed: { plan: 'pro', greeting: 'Hi' } },
    });
  });

  it('refuses bad values with 400 naming each field, and saves nothing', async () => {
    const res = await saveSettings(ann, shop.id, { maxContacts: -1, plan: 'gold', colour: 'red' }).expect(
      400,
    );
    expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
    expect(res.body.fields.map((f: { field: string }) => f.field).sort()).toEqual([
      'body.values.colour',
      'body.values.maxContacts',
      'body.values.plan',
    ]);
    expect((await settingsOf(ann, shop.id).expect(200)).body.values.plan).toBe('pro');
  });

  it('is refused to other organizations’ people, below the plugin’s role and to org kinds without settings', async () => {
    const bea = await signUp(plaza, { name: 'Bea Other' });
    await createOrg(bea, 'account', 'Other Shop');
    await settingsOf(bea, shop.id).expect(404);
    await saveSettings(bea, shop.id, { plan: 'free' }).expect(404);

    // A plain member: the settings need admin.
    const mo = await signUp(plaza, { name: 'Mo Member' });
    await plaza.core.db.query(
      "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'member')",
      [shop.id, mo.user.id],
    );
    await settingsOf(mo, shop.id).expect(403);
    await saveSettings(mo, shop.id, { plan: 'free' }).expect(403);

    const dev = await createOrg(ann, 'developer', 'Ann Apps');
    await settingsOf(ann, dev.id).expect(404);
    await ann.agent.get(`/v1/organizations/${shop.id}/plugins/nope/settings`).expect(404);
    expect((await settingsOf(ann, shop.id).expect(200)).body.values.plan).toBe('pro');
  });

  it('lists the enabled plugin with its pages and who sees its settings', async () => {
    const res = await plaza.http.get('/v1/plugins').expect(200);
    expect(res.body.data).toEqual([
      expect.objectContaining({
        name: 'tiers',
        hasSettings: true,
        settings: { minRole: 'admin', orgKinds: ['account', 'agency'] },
        pages: [
          expect.objectContaining({ path: 'plan', area: 'org', minRole: 'member', orgKinds: ['account'] }),
          expect.objectContaining({ path: 'overview', area: 'operator', platformRoles: ['admin'] }),
        ],
      }),
    ]);
  });
});

describe('organization.limits', () => {
  it('refuses the 1,001st contact when six creates race for the last two places', async () => {
    await saveSettings(ann, shop.id, { maxContacts: 1000 }).expect(200);
    const seeded = await plaza.core.db.query(
      `INSERT INTO contacts (id, organization_id, name, created_by, updated_by)
       SELECT 'ct_seed_' || g, $1, 'Seed ' || g, '{"type":"system"}', '{"type":"system"}'
       FROM generate_series(1, 998) AS g RETURNING id`,
      [shop.id],
    );
    expect(seeded).toHaveLength(998);
    let i = 0;
    const create = () =>
      ann.agent
        .post(`/v1/organizations/${shop.id}/contacts`)
        .set('x-csrf-token', ann.csrf)
        .send({ name: `Racer ${++i}` });
    await raceHttp({
      label: 'contacts at the plan limit',
      n: 3,
      a: create,
      b: create,
      allowed: [201, 402],
      invariant: async ({ a, b }) => {
        const answers = [...a, ...b];
        expect(answers.filter((r) => r.status === 201)).toHaveLength(2);
        const refused = answers.filter((r) => r.status === 402);
        expect(refused).toHaveLength(4);
        expect(refused[0].body).toMatchObject({
          code: 'PLAZA_ENTITLEMENT',
          feature: 'contacts',
          plan: 'pro',
          limit: 1000,
        });
        const [{ n }] = await plaza.core.db.query(
          'SELECT count(*)::int AS n FROM contacts WHERE organization_id = $1',
          [shop.id],
        );
        expect(n).toBe(1000);
      },
    });
    // A higher limit lets the next one in.
    await saveSettings(ann, shop.id, { maxContacts: 1001 }).expect(200);
    await create().expect(201);
  });

  it('refuses a new member beyond the plan’s seats when the invitation is accepted', async () => {
    // Ann (owner) and Mo (member) hold the shop's two seats.
    await saveSettings(ann, shop.id, { maxSeats: 2 }).expect(200);
    const cy = await signUp(plaza, { name: 'Cy Seat' });
    await verifyEmail(plaza, cy);
    await ann.agent
      .post(`/v1/organizations/${shop.id}/invitations`)
      .set('x-csrf-token', ann.csrf)
      .send({ email: cy.user.email, role: 'member' })
      .expect(201);
    const token = linkToken(await mailTo(plaza, cy.user.email, /invit/i), '/invitations');
    const accept = () => cy.agent.post(`/v1/invitations/${token}/accept`).set('x-csrf-token', cy.csrf);
    const refused = await accept().expect(402);
    expect(refused.body).toMatchObject({ code: 'PLAZA_ENTITLEMENT', feature: 'seats', limit: 2 });
    await cy.agent.get(`/v1/organizations/${shop.id}/members`).expect(404);
    await saveSettings(ann, shop.id, { maxSeats: 3 }).expect(200);
    await accept().expect(200);
    await cy.agent.get(`/v1/organizations/${shop.id}/members`).expect(200);
  });

  it('refuses an installation beyond the plan’s apps, in the installing transaction', async () => {
    await saveSettings(ann, shop.id, { maxApps: 1 }).expect(200);
    const install = (appId: string) =>
      plaza.core.installations.create({
        accountId: shop.id,
        appId,
        versionId: `${appId}_v1`,
        grantedScopes: [],
        actor: { userId: ann.user.id, email: ann.user.email, platformRole: null, ip: null, requestId: null },
      });
    await install('app_first');
    await expect(install('app_second')).rejects.toMatchObject({ code: 'PLAZA_ENTITLEMENT', status: 402 });
    const rows = await plaza.core.db.query('SELECT app_id FROM installations WHERE account_id = $1', [
      shop.id,
    ]);
    expect(rows.map((r) => r.app_id)).toEqual(['app_first']);
  });
});

describe('ctx.ledger and ctx.payments', () => {
  const post = (path: string, body: object) =>
    ann.agent.post(`/v1/tiers/organizations/${shop.id}${path}`).set('x-csrf-token', ann.csrf).send(body);

  it('posts a balanced transaction under the plugin’s key prefix, once per key', async () => {
    const first = await post('/grants', { amount: 1500, key: 'k1' }).expect(200);
    expect(first.body).toMatchObject({ replayed: false, receivable: '1500' });
    const again = await post('/grants', { amount: 1500, key: 'k1' }).expect(200);
    expect(again.body).toMatchObject({
      transactionId: first.body.transactionId,
      replayed: true,
      receivable: '1500',
    });
    const [tx] = await plaza.core.db.query(
      `SELECT t.idempotency_key,
         sum(e.amount) FILTER (WHERE e.direction = 'debit')::int AS debits,
         sum(e.amount) FILTER (WHERE e.direction = 'credit')::int AS credits
       FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id WHERE t.id = $1
       GROUP BY t.idempotency_key`,
      [first.body.transactionId],
    );
    expect(tx).toEqual({ idempotency_key: 'tiers:grant:k1', debits: 1500, credits: 1500 });
    // Partners' accounts belong to payouts: a plugin cannot move their money.
    const refused = await post('/grants', { amount: 100, key: 'k2', from: 'partner_payable' }).expect(400);
    expect(refused.body.fields).toEqual([
      { field: 'entries', reason: expect.stringMatching(/not partner_payable/) },
    ]);
  });

  it('credits an agency’s pending balance only for the agency of the organization whose receivable it debits', async () => {
    const agency = await createOrg(ann, 'agency', 'Reseller Agency');
    const other = await createOrg(ann, 'agency', 'Unrelated Agency');
    const clinic = (
      await ann.agent
        .post(`/v1/organizations/${agency.id}/sub-accounts`)
        .set('x-csrf-token', ann.csrf)
        .send({ name: 'Rebilled Clinic' })
        .expect(201)
    ).body as { id: string };
    const grant = (orgId: string, body: object) =>
      ann.agent.post(`/v1/tiers/organizations/${orgId}/grants`).set('x-csrf-token', ann.csrf).send(body);
    const pending = (party: string) => plaza.core.ledger.balance({ kind: 'partner_pending', party }, 'USD');

    // Another agency, or the agency against a receivable of an organization that is not its sub-account: refused.
    for (const [orgId, party] of [
      [clinic.id, other.id],
      [shop.id, agency.id],
    ]) {
      const refused = await grant(orgId, {
        amount: 4500,
        key: `markup-${party}-${orgId}`,
        agencyShare: { party, amount: 1500 },
      }).expect(400);
      expect(refused.body.fields).toEqual([
        { field: 'entries', reason: expect.stringContaining(`partner_pending ${party} is not the agency`) },
      ]);
    }
    expect(await pending(other.id)).toBe(0n);

    await grant(clinic.id, {
      amount: 4500,
      key: 'markup-1',
      agencyShare: { party: agency.id, amount: 1500 },
    }).expect(200);
    expect(await pending(agency.id)).toBe(1500n);
    // It is a payout line like a charge's share: released after the agency's net terms.
    const [line] = await plaza.core.db.query(
      'SELECT invoice_id, role, amount::int, state FROM ledger_partner_lines WHERE party = $1',
      [agency.id],
    );
    expect(line).toEqual({
      invoice_id: 'tiers:grant:markup-1',
      role: 'agency',
      amount: 1500,
      state: 'pending',
    });
    const check = await plaza.core.ledger.verify();
    expect(check.unbalanced).toEqual([]);
    expect(check.mismatches).toEqual([]);
  });

  it('charges the platform’s customer through a checkout, then the saved card, each in the ledger and as an event', async () => {
    const checkout = await post('/checkout', { reference: 'plan-1', amount: 4900 }).expect(200);
    expect(checkout.body.provider).toBe('sandbox');
    // Asking again for the same reference gives the same payment page.
    expect((await post('/checkout', { reference: 'plan-1', amount: 4900 }).expect(200)).body.sessionId).toBe(
      checkout.body.sessionId,
    );
    await plaza.http
      .post(`/v1/payments/sandbox/checkout/${checkout.body.sessionId}/pay`)
      .send({ card: '4242424242424242' })
      .expect(200);
    const paid = await waitFor('platform_charge.succeeded for plan-1', () =>
      plaza.core.db.maybeOne("SELECT * FROM tiers_payments WHERE reference = 'plan-1'"),
    );
    expect(paid).toMatchObject({ type: 'platform_charge.succeeded', amount: 4900 });

    const renewal = await post('/renewals', { key: 'renew-1', amount: 4900 }).expect(200);
    expect(renewal.body).toMatchObject({ status: 'succeeded', chargeId: expect.any(String) });
    // Same key: the first outcome, no second charge.
    expect((await post('/renewals', { key: 'renew-1', amount: 4900 }).expect(200)).body).toEqual(
      renewal.body,
    );
    await waitFor('platform_charge.succeeded for renew-1', () =>
      plaza.core.db.maybeOne("SELECT 1 FROM tiers_payments WHERE reference = 'renew-1'"),
    );

    const charges = await plaza.core.db.query(
      `SELECT t.idempotency_key,
         (SELECT sum(amount) FROM ledger_entries WHERE transaction_id = t.id AND direction = 'debit')::int AS debits,
         (SELECT sum(amount) FROM ledger_entries WHERE transaction_id = t.id AND direction = 'credit')::int AS credits
       FROM ledger_transactions t WHERE t.source_kind = 'platform_charge' ORDER BY t.posted_at`,
    );
    expect(charges).toHaveLength(2);
    for (const c of charges) expect(c).toMatchObject({ debits: 4900, credits: 4900 });
    const check = await plaza.core.ledger.verify();
    expect(check.unbalanced).toEqual([]);
    expect(check.mismatches).toEqual([]);
  });

  it('a charge that settles the customer’s receivable credits it instead of platform revenue; only the payer’s own', async () => {
    const receivable = () =>
      plaza.core.ledger.balance({ kind: 'customer_receivable', party: shop.id }, 'USD');
    const other = await createOrg(ann, 'account', 'Someone Else');
    const refused = await post('/renewals', { key: 'settle-x', amount: 700, settles: other.id }).expect(400);
    expect(refused.body.fields).toEqual([
      { field: 'settles.party', reason: expect.stringContaining('organizationId') },
    ]);

    // An invoice booked by the plugin (receivable 700), then paid by a charge that settles it.
    await post('/grants', { amount: 700, key: 'invoice-s1' }).expect(200);
    const before = await receivable();
    const revenue = await plaza.core.ledger.balance({ kind: 'platform_revenue' }, 'USD');
    const paid = await post('/renewals', { key: 'settle-1', amount: 700, settles: shop.id }).expect(200);
    expect(paid.body.status).toBe('succeeded');
    expect(await receivable()).toBe(before - 700n);
    expect(await plaza.core.ledger.balance({ kind: 'platform_revenue' }, 'USD')).toBe(revenue);
    const event = await waitFor('platform_charge.succeeded for settle-1', () =>
      plaza.core.db.maybeOne("SELECT * FROM tiers_payments WHERE reference = 'settle-1'"),
    );
    expect(event.type).toBe('platform_charge.succeeded');
    const check = await plaza.core.ledger.verify();
    expect(check.unbalanced).toEqual([]);
    expect(check.mismatches).toEqual([]);
  });

  it('answers failed for an organization without a saved card, and says so once as an event', async () => {
    const other = await createOrg(ann, 'account', 'Cardless Shop');
    const res = await ann.agent
      .post(`/v1/tiers/organizations/${other.id}/renewals`)
      .set('x-csrf-token', ann.csrf)
      .send({ key: 'renew-x', amount: 900 })
      .expect(200);
    expect(res.body).toMatchObject({
      status: 'failed',
      failureReason: expect.stringMatching(/saved payment method/),
    });
    const failed = await waitFor('platform_charge.failed', () =>
      plaza.core.db.maybeOne("SELECT * FROM tiers_payments WHERE reference = 'renew-x'"),
    );
    expect(failed.type).toBe('platform_charge.failed');
  });
});

describe('ctx.orgs and plugin email templates', () => {
  it('emails each member from the plugin’s own template', async () => {
    await ann.agent
      .post(`/v1/tiers/organizations/${shop.id}/welcome`)
      .set('x-csrf-token', ann.csrf)
      .expect(204);
    const mail = await mailTo(plaza, ann.user.email, /Welcome to the pro plan/);
    expect(mail.subject).toBe('Welcome to the pro plan, Tiered Shop');
    expect(mail.text).toContain('Tiered Shop is now on the pro plan.');
  });
});

describe('turning the plugin off', () => {
  it('keeps its settings: a core without it starts on the same database, and turning it back on finds them', async () => {
    await plaza.close();
    const without = await startPlazaServer({ database });
    expect((await without.http.get('/v1/plugins').expect(200)).body.data).toEqual([]);
    await without.close();
    plaza = await startPlazaServer({ database, env: TIERS });
    const [row] = await plaza.core.db.query(
      'SELECT settings FROM plaza_plugin_settings WHERE organization_id = $1 AND plugin = $2',
      [shop.id, 'tiers'],
    );
    expect(row.settings).toMatchObject({ plan: 'pro', maxContacts: 1001 });
    expect(await plaza.core.organizations.byId(shop.id)).toBeTruthy();
  });
});
