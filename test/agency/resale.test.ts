import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedgerService } from '../../server/modules/ledger/service.ts';
import { SYSTEM_ACTOR } from '../../server/tenancy.ts';
import { linkToken, mailTo, verifyEmail } from '../helpers/email.ts';
import { onboardSandboxPayoutAccount } from '../helpers/payments.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  createOrg,
  registerApp,
  type SignedIn,
  signUp,
  type TestApp,
  uniqueEmail,
} from '../helpers/world.ts';

/**
 * An agency running sub-accounts as its own product, on the sandbox provider
 * and real PostgreSQL: a template provisions a sub-account in one step (and
 * re-applies idempotently), the agency resells a paid app at its own price,
 * the sub-account pays that price and never sees the developer's, the ledger
 * splits the charge into developer, platform and agency markup and balances,
 * a sub-account whose renewal failed past the grace period is paused (423
 * for its people, not for the agency's) and paying resumes it. Another agency
 * reaches none of it.
 */
let plaza: TestPlaza;
let agencyOwner: SignedIn;
let agency: { id: string; name: string };
let rivalOwner: SignedIn;
let rivalAgency: { id: string; name: string };
let paid: TestApp; // 49.00 USD a month
let trial: TestApp; // 10.00 USD a month after a 7-day trial
let free: TestApp;
let templateId: string;
let sub: { id: string; name: string };
let client: SignedIn; // the sub-account's own admin, invited by the template
const clientEmail = uniqueEmail('client');

const as = (who: SignedIn) => ({
  get: (path: string) => who.agent.get(path),
  post: (path: string, body: object = {}) => who.agent.post(path).set('x-csrf-token', who.csrf).send(body),
  put: (path: string, body: object) => who.agent.put(path).set('x-csrf-token', who.csrf).send(body),
});

const byAction = (changes: Array<{ item: string; key: string; action: string }>) =>
  Object.fromEntries(changes.map((c) => [`${c.item}:${c.key}`, c.action]));

beforeAll(async () => {
  plaza = await startPlaza();
  paid = await registerApp(plaza, {
    name: 'Review Booster',
    redirectUris: ['https://app.example.com/cb'],
    pricing: { type: 'recurring', interval: 'month', amount: 4_900, currency: 'USD', trialDays: 0 },
  });
  trial = await registerApp(plaza, {
    name: 'Call Tracker',
    redirectUris: ['https://app.example.com/cb'],
    pricing: { type: 'recurring', interval: 'month', amount: 1_000, currency: 'USD', trialDays: 7 },
  });
  free = await registerApp(plaza, {
    name: 'Free Forms',
    redirectUris: ['https://app.example.com/cb'],
    scopes: [{ name: 'contacts:read' }, { name: 'users:read', optional: true }],
  });
  // The developer of the paid app keeps 75% (the schedule's rule for it; agencies get no part of the platform's).
  await plaza.core.ledger.addRule(
    { scope: 'developer', target: paid.developer.org.id, tiers: [{ upTo: null, platformBps: 2500 }] },
    null,
  );
  agencyOwner = await signUp(plaza, { name: 'Ada Agency' });
  agency = await createOrg(agencyOwner, 'agency', 'Bright Agency');
  rivalOwner = await signUp(plaza, { name: 'Rex Rival' });
  rivalAgency = await createOrg(rivalOwner, 'agency', 'Rival Agency');
}, 120_000);
afterAll(() => plaza?.close());

describe('sub-account templates', () => {
  it('refuses a template with a bad colour or a repeated app, naming the field', async () => {
    const bad = await as(agencyOwner)
      .post(`/v1/organizations/${agency.id}/templates`, {
        name: 'Broken',
        theme: { colours: { primary: 'red' } },
      })
      .expect(400);
    expect(bad.body.fields).toContainEqual(expect.objectContaining({ field: 'body.theme.colours.primary' }));
    const twice = await as(agencyOwner)
      .post(`/v1/organizations/${agency.id}/templates`, {
        name: 'Twice',
        apps: [{ appId: free.appId }, { appId: free.appId }],
      })
      .expect(400);
    expect(twice.body.fields[0].field).toBe('body.apps');
  });

  it('provisions a sub-account in one step; applying again changes nothing', async () => {
    const t = await as(agencyOwner)
      .post(`/v1/organizations/${agency.id}/templates`, {
        name: 'Dental practice',
        theme: { brandName: 'Bright Dental', colours: { primary: '#114477' } },
        apps: [{ appId: free.appId, scopes: ['users:read'] }],
        contactFields: [{ key: 'insurer', label: 'Insurer', type: 'text' }],
        members: [{ email: clientEmail, role: 'admin' }],
      })
      .expect(201);
    templateId = t.body.id;
    expect(t.body.revision).toBe(1);

    const made = await as(agencyOwner)
      .post(`/v1/organizations/${agency.id}/templates/${templateId}/provision`, { name: 'Dental One' })
      .expect(201);
    sub = made.body.subAccount;
    expect(made.body).toMatchObject({ created: true, changed: 4 });
    expect(byAction(made.body.changes)).toEqual({
      'theme:theme': 'created',
      [`app:${free.appId}`]: 'created',
      'contactField:insurer': 'created',
      [`member:${clientEmail}`]: 'created',
    });
    // What it made is there: the app with the optional scope, the field, the invitation.
    const inst = await plaza.core.installations.findActive(sub.id, free.appId);
    expect(inst?.grantedScopes.sort()).toEqual(['contacts:read', 'users:read']);
    const fields = await as(agencyOwner).get(`/v1/organizations/${sub.id}/contact-fields`).expect(200);
    expect(fields.body.data.map((f: { key: string }) => f.key)).toEqual(['insurer']);

    const again = await as(agencyOwner)
      .post(`/v1/organizations/${agency.id}/templates/${templateId}/apply`, { subAccountId: sub.id })
      .expect(200);
    expect(again.body).toMatchObject({ created: false, changed: 0 });
    expect(new Set(again.body.changes.map((c: { action: string }) => c.action))).toEqual(
      new Set(['unchanged']),
    );
  });

  it('re-applies a changed template and reports exactly what it changed', async () => {
    const changed = await as(agencyOwner)
      .put(`/v1/organizations/${agency.id}/templates/${templateId}`, {
        name: 'Dental practice',
        theme: { brandName: 'Bright Dental', colours: { primary: '#225588' } },
        apps: [{ appId: free.appId, scopes: ['users:read'] }],
        contactFields: [
          { key: 'insurer', label: 'Insurance company', type: 'text' },
          { key: 'plan', label: 'Plan', type: 'select', options: ['basic', 'premium'] },
        ],
        members: [{ email: clientEmail, role: 'admin' }],
      })
      .expect(200);
    expect(changed.body.revision).toBe(2);
    const before = await as(agencyOwner)
      .get(`/v1/organizations/${agency.id}/templates/${templateId}/applications`)
      .expect(200);
    expect(before.body.data).toEqual([
      expect.objectContaining({ subAccountId: sub.id, revision: 1, outdated: true }),
    ]);

    const r = await as(agencyOwner)
      .post(`/v1/organizations/${agency.id}/templates/${templateId}/apply`, { subAccountId: sub.id })
      .expect(200);
    expect(r.body).toMatchObject({ revision: 2, changed: 3 });
    expect(byAction(r.body.changes)).toEqual({
      'theme:theme': 'updated',
      [`app:${free.appId}`]: 'unchanged',
      'contactField:insurer': 'updated',
      'contactField:plan': 'created',
      [`member:${clientEmail}`]: 'unchanged',
    });
    const fields = await as(agencyOwner).get(`/v1/organizations/${sub.id}/contact-fields`).expect(200);
    expect(fields.body.data.find((f: { key: string }) => f.key === 'insurer').label).toBe(
      'Insurance company',
    );
  });

  it('the invited person joins the sub-account', async () => {
    client = await signUp(plaza, { name: 'Cleo Client', email: clientEmail });
    await verifyEmail(plaza, client);
    const token = linkToken(await mailTo(plaza, clientEmail, /invit/i), '/invitations');
    await as(client).post(`/v1/invitations/${token}/accept`).expect(200);
    await as(client).get(`/v1/organizations/${sub.id}/installations`).expect(200);
  });

  it("another agency reads and changes none of this agency's templates", async () => {
    const rival = as(rivalOwner);
    await rival.get(`/v1/organizations/${agency.id}/templates/${templateId}`).expect(404);
    const rivalTemplate = await rival
      .post(`/v1/organizations/${rivalAgency.id}/templates`, { name: 'Rival', apps: [{ appId: free.appId }] })
      .expect(201);
    // Its own template onto this agency's sub-account, and this agency's template through its own org.
    await rival
      .post(`/v1/organizations/${rivalAgency.id}/templates/${rivalTemplate.body.id}/apply`, {
        subAccountId: sub.id,
      })
      .expect(404);
    await rival
      .post(`/v1/organizations/${rivalAgency.id}/templates/${templateId}/provision`, { name: 'Stolen' })
      .expect(404);
  });
});

describe('app resale', () => {
  let invoiceId: string;

  it("prices an app above the developer's price only", async () => {
    const agencyApi = as(agencyOwner);
    const neg = await agencyApi
      .put(`/v1/organizations/${agency.id}/resale/prices/${paid.appId}`, { type: 'fixed', value: -100 })
      .expect(400);
    expect(neg.body.fields[0].field).toBe('body.value');
    await agencyApi
      .put(`/v1/organizations/${agency.id}/resale/prices/${free.appId}`, { type: 'percent', value: 1000 })
      .expect(400);
    const set = await agencyApi
      .put(`/v1/organizations/${agency.id}/resale/prices/${paid.appId}`, { type: 'percent', value: 2000 })
      .expect(200);
    expect(set.body).toMatchObject({
      developerPricing: { amount: 4_900 },
      resalePricing: { type: 'recurring', amount: 5_880, currency: 'USD' },
    });
    await agencyApi
      .put(`/v1/organizations/${agency.id}/resale/prices/${trial.appId}`, { type: 'fixed', value: 500 })
      .expect(200);
    // Another agency neither reads nor changes these prices.
    await as(rivalOwner).get(`/v1/organizations/${agency.id}/resale/prices`).expect(404);
    await as(rivalOwner)
      .put(`/v1/organizations/${agency.id}/resale/prices/${paid.appId}`, { type: 'fixed', value: 0 })
      .expect(404);
  });

  it("the sub-account pays the agency's price; the ledger splits developer, platform and agency markup and balances", async () => {
    const offers = await as(client).get(`/v1/organizations/${sub.id}/offers`).expect(200);
    const offer = offers.body.data.find((o: { appId: string }) => o.appId === paid.appId);
    expect(offer).toMatchObject({ resold: true, pricing: { amount: 5_880 } });

    const refused = await plaza.core.installations
      .admit({
        accountId: sub.id,
        appId: paid.appId,
        versionId: paid.versionId,
        grantedScopes: paid.scopes,
        actor: { ...SYSTEM_ACTOR, userId: client.user.id },
        via: 'consent',
      })
      .then(
        () => null,
        (err) => err,
      );
    expect(refused).toMatchObject({ code: 'PLAZA_PAYMENT_REQUIRED', extra: { amount: 5_880 } });
    expect(refused.message).toContain('58.80 USD');
    const sessionId = new URL(refused.extra.checkoutUrl).pathname.split('/').pop();
    await plaza.http
      .post(`/v1/payments/sandbox/checkout/${sessionId}/pay`)
      .send({ card: '4242424242424242' })
      .expect(200);

    const [subscription] = (await plaza.core.payments.subscriptions.list(sub.id)).filter(
      (s) => s.appId === paid.appId,
    );
    expect(subscription).toMatchObject({ status: 'active', pricing: { amount: 5_880 } });
    invoiceId = subscription.invoices[0].id;
    const charge = (await plaza.core.ledger.charge(invoiceId))!;
    const { split } = charge;
    const part = (role: string) => split.parts.find((p) => p.role === role)!;
    expect(split.amount).toBe(5_880n);
    expect(split.processingFee + split.parts.reduce((a, p) => a + p.amount, 0n)).toBe(5_880n);
    // The fee is borne pro rata; each party is within a cent of its exact share of the net.
    const net = Number(split.amount - split.processingFee);
    const near = (got: bigint, exact: number) => expect(Math.abs(Number(got) - exact)).toBeLessThanOrEqual(1);
    near(part('agency').amount, (net * 980) / 5_880);
    expect(part('agency').markup).toBe(part('agency').amount);
    near(part('developer').amount, (net * 4_900 * 0.75) / 5_880);
    near(part('platform').amount, (net * 4_900 * 0.25) / 5_880);
    expect(part('agency').party).toBe(agency.id);
    // The agency's markup waits in its partner balance, paid out like any partner's.
    const pending = await plaza.core.ledger.balance({ kind: 'partner_pending', party: agency.id }, 'USD');
    expect(pending).toBe(part('agency').amount);
    const v = await plaza.core.ledger.verify();
    expect(v.unbalanced).toEqual([]);
    expect(v.mismatches).toEqual([]);

    // Once its payout terms ran out, a payout run pays it to the agency's connected account
    // (the ledger on the same database with its clock 60 days on, and no minimum).
    await onboardSandboxPayoutAccount(plaza, agencyOwner, agency.id);
    const later = createLedgerService({
      db: plaza.core.db,
      now: () => new Date(Date.now() + 60 * 86_400_000),
      minimumPayout: 1n,
    });
    later.usePayoutProvider(plaza.core.payments.payoutProvider);
    await later.runPayouts('test');
    const [payout] = await plaza.core.ledger.payoutsOf(agency.id);
    expect(payout).toMatchObject({ state: 'paid', amount: part('agency').amount, currency: 'USD' });
    expect((await plaza.core.ledger.verify()).unbalanced).toEqual([]);

    // The agency's dashboard shows what the sub-account pays and what the agency earned from it.
    const dash = await as(agencyOwner)
      .get(`/v1/organizations/${agency.id}/agency-dashboard?q=dental`)
      .expect(200);
    const row = dash.body.data.find((r: { id: string }) => r.id === sub.id);
    expect(row.pays).toContainEqual(
      expect.objectContaining({ appId: paid.appId, amount: 5_880, status: 'active' }),
    );
    expect(row.earnings).toEqual([
      {
        currency: 'USD',
        charges: 1,
        paid: 5_880,
        agencyShare: Number(part('agency').amount),
        markup: Number(part('agency').markup),
      },
    ]);
    expect(row.apps.map((a: { appId: string }) => a.appId).sort()).toEqual([free.appId].sort());
    const none = await as(agencyOwner)
      .get(`/v1/organizations/${agency.id}/agency-dashboard?status=paused`)
      .expect(200);
    expect(none.body.totals.subAccounts).toBe(0);
  });

  it("nothing the sub-account's people receive names the developer's price", async () => {
    const leaks = (body: unknown) => {
      const text = JSON.stringify(body);
      return /:\s*4900\b/.test(text) || text.includes('49.00') || text.includes('developerPricing');
    };
    const routes = plaza.core.routes.filter(
      (r) =>
        r.method === 'get' &&
        r.access.kind === 'org' &&
        (!r.access.orgKinds || r.access.orgKinds.includes('account')) &&
        !/:(?!orgId)\w+/.test(r.path),
    );
    expect(routes.length).toBeGreaterThan(5);
    for (const r of routes) {
      const res = await client.agent.get(r.path.replace(':orgId', sub.id));
      expect(leaks(res.body), `${r.path} -> ${res.status}`).toBe(false);
    }
    const slug = (await plaza.core.apps.get(paid.developer, paid.appId)).slug;
    const page = await client.agent.get(`/v1/organizations/${sub.id}/offers/${slug}`).expect(200);
    expect(page.body).toMatchObject({ resold: true, pricing: { amount: 5_880 } });
    for (const path of [
      '/v1/me',
      `/v1/paused-accounts/${sub.id}`,
      `/v1/organizations/${sub.id}/offers/${slug}`,
    ]) {
      const res = await client.agent.get(path).expect(200);
      expect(leaks(res.body), path).toBe(false);
    }
    // The agency's own page does show its cost.
    const own = await as(agencyOwner).get(`/v1/organizations/${agency.id}/resale/prices`).expect(200);
    expect(leaks(own.body)).toBe(true);
  });

  it("a refund takes the agency's markup back with the developer's and platform's shares", async () => {
    const before = (await plaza.core.ledger.charge(invoiceId))!.split;
    const refund = await plaza.core.payments.refunds.refund({
      actor: SYSTEM_ACTOR,
      invoiceId,
      amount: 2_940,
      reason: 'half of the month',
      via: 'operator',
    });
    expect(refund).toMatchObject({ amount: 2_940 });
    const charge = (await plaza.core.ledger.charge(invoiceId))!;
    expect(charge.refunded).toBe(2_940n);
    const [ledgerRefund] = await plaza.core.db.query(
      'SELECT split FROM ledger_refunds WHERE invoice_id = $1',
      [invoiceId],
    );
    const agencyBack = BigInt(
      ledgerRefund.split.partners.find((p: { role: string }) => p.role === 'agency').amount,
    );
    const agencyPart = before.parts.find((p) => p.role === 'agency')!.amount;
    // Half the charge refunded: half of the agency's part (within a cent), at the charge's rates.
    expect(Number(agencyBack)).toBeGreaterThanOrEqual(Number(agencyPart) / 2 - 1);
    expect(Number(agencyBack)).toBeLessThanOrEqual(Number(agencyPart) / 2 + 1);
    const v = await plaza.core.ledger.verify();
    expect(v.unbalanced).toEqual([]);
    expect(v.mismatches).toEqual([]);
    const dash = await as(agencyOwner).get(`/v1/organizations/${agency.id}/agency-dashboard`).expect(200);
    const row = dash.body.data.find((r: { id: string }) => r.id === sub.id);
    expect(row.earnings[0]).toMatchObject({
      paid: 5_880 - 2_940,
      agencyShare: Number(agencyPart - agencyBack),
    });
  });

  it('journals price changes and rolls one back', async () => {
    const api = as(agencyOwner);
    await api
      .put(`/v1/organizations/${agency.id}/resale/prices/${paid.appId}`, { type: 'fixed', value: 300 })
      .expect(200);
    const journal = await api
      .get(`/v1/organizations/${agency.id}/resale/price-changes?appId=${paid.appId}`)
      .expect(200);
    const [latest, first] = journal.body.data;
    expect(latest).toMatchObject({
      before: { type: 'percent', value: 2000 },
      after: { type: 'fixed', value: 300 },
    });
    expect(first).toMatchObject({ before: null, after: { type: 'percent', value: 2000 } });
    const back = await api
      .post(`/v1/organizations/${agency.id}/resale/price-changes/${latest.id}/rollback`)
      .expect(200);
    expect(back.body.price).toMatchObject({
      markup: { type: 'percent', value: 2000 },
      resalePricing: { amount: 5_880 },
    });
    const after = await api
      .get(`/v1/organizations/${agency.id}/resale/price-changes?appId=${paid.appId}`)
      .expect(200);
    expect(after.body.data[0]).toMatchObject({
      rollbackOf: latest.id,
      after: { type: 'percent', value: 2000 },
    });
    // A rival cannot roll this agency's prices back through its own organization.
    await as(rivalOwner)
      .post(`/v1/organizations/${rivalAgency.id}/resale/price-changes/${latest.id}/rollback`)
      .expect(404);
  });

  it("hides apps from the sub-accounts' marketplace and refuses installing them", async () => {
    const hidden = await registerApp(plaza, {
      name: 'Hidden Helper',
      redirectUris: ['https://app.example.com/cb'],
    });
    await as(agencyOwner)
      .put(`/v1/organizations/${agency.id}/resale/catalog`, { mode: 'block', appIds: [hidden.appId] })
      .expect(200);
    const offers = await as(client).get(`/v1/organizations/${sub.id}/offers?limit=100`).expect(200);
    const ids = offers.body.data.map((o: { appId: string }) => o.appId);
    expect(ids).toContain(paid.appId);
    expect(ids).not.toContain(hidden.appId);
    const hiddenSlug = (await plaza.core.apps.get(hidden.developer, hidden.appId)).slug;
    await as(client).get(`/v1/organizations/${sub.id}/offers/${hiddenSlug}`).expect(404);
    const refused = await plaza.core.installations
      .admit({
        accountId: sub.id,
        appId: hidden.appId,
        versionId: hidden.versionId,
        grantedScopes: hidden.scopes,
        actor: { ...SYSTEM_ACTOR, userId: client.user.id },
        via: 'consent',
      })
      .then(
        () => null,
        (err) => err,
      );
    expect(refused).toMatchObject({ status: 403 });
    // An allow-list shows only what it names.
    await as(agencyOwner)
      .put(`/v1/organizations/${agency.id}/resale/catalog`, { mode: 'allow', appIds: [paid.appId] })
      .expect(200);
    const allowed = await as(client).get(`/v1/organizations/${sub.id}/offers?limit=100`).expect(200);
    expect(allowed.body.data.map((o: { appId: string }) => o.appId)).toEqual([paid.appId]);
    await as(agencyOwner)
      .put(`/v1/organizations/${agency.id}/resale/catalog`, { mode: 'all', appIds: [] })
      .expect(200);
  });
});

describe('pausing a sub-account that does not pay', () => {
  it('pauses only past the grace period; its people get 423, the agency keeps access; paying resumes it', async () => {
    // A trial of the resold app (15.00 USD a month at the agency's price), then a renewal without a card.
    await plaza.core.installations.admit({
      accountId: sub.id,
      appId: trial.appId,
      versionId: trial.versionId,
      grantedScopes: trial.scopes,
      actor: { ...SYSTEM_ACTOR, userId: client.user.id },
      via: 'consent',
    });
    const s = (await plaza.core.payments.subscriptions.list(sub.id)).find((x) => x.appId === trial.appId)!;
    expect(s).toMatchObject({ status: 'trialing', pricing: { amount: 1_500 } });
    await plaza.core.payments.subscriptions.renewDue(new Date(Date.parse(s.trialEnd!) + 1000));

    const api = as(agencyOwner);
    const early = await api.post(`/v1/organizations/${agency.id}/sub-accounts/${sub.id}/pause`).expect(409);
    expect(early.body.detail).toMatch(/grace period runs until/);
    await api.put(`/v1/organizations/${agency.id}/resale/pause-grace`, { days: 0 }).expect(200);
    await api.post(`/v1/organizations/${agency.id}/sub-accounts/${sub.id}/pause`).expect(200);

    const locked = await client.agent.get(`/v1/organizations/${sub.id}/subscriptions`).expect(423);
    expect(locked.body).toMatchObject({ code: 'PLAZA_ACCOUNT_PAUSED', resumeUrl: `/paused/${sub.id}` });
    await api.get(`/v1/organizations/${sub.id}/subscriptions`).expect(200);
    await as(rivalOwner).get(`/v1/paused-accounts/${sub.id}`).expect(404);
    const dash = await api.get(`/v1/organizations/${agency.id}/agency-dashboard?status=paused`).expect(200);
    expect(dash.body.data.map((r: { id: string }) => r.id)).toEqual([sub.id]);

    const page = await client.agent.get(`/v1/paused-accounts/${sub.id}`).expect(200);
    expect(page.body).toMatchObject({ paused: true, agencyName: 'Bright Agency' });
    expect(page.body.due).toEqual([
      expect.objectContaining({ amount: 1_500, currency: 'USD', appName: 'Call Tracker' }),
    ]);
    const sessionId = new URL(page.body.due[0].payUrl).pathname.split('/').pop();
    await plaza.http
      .post(`/v1/payments/sandbox/checkout/${sessionId}/pay`)
      .send({ card: '4242424242424242' })
      .expect(200);
    await waitFor(
      'the paid sub-account to resume',
      async () => (await client.agent.get(`/v1/organizations/${sub.id}/subscriptions`)).status === 200,
    );
    // The renewal at the agency's price carried its markup to the agency.
    const renewal = (await plaza.core.payments.subscriptions.list(sub.id))
      .find((x) => x.appId === trial.appId)!
      .invoices.find((i) => i.status === 'paid')!;
    const split = (await plaza.core.ledger.charge(renewal.id))!.split;
    expect(split.parts.find((p) => p.role === 'agency')?.markup).toBeGreaterThan(0n);
  });
});
