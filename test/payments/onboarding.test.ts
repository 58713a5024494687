import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FakeStripe } from '../fake-stripe/server.ts';
import { developer } from '../helpers/apps.ts';
import { type PlazaOnFakeStripe, startPlazaOnFakeStripe } from '../helpers/payments.ts';
import type { PlazaServer } from '../helpers/plaza.ts';
import { waitFor } from '../helpers/wait.ts';
import { createOrg, signUp } from '../helpers/world.ts';

/**
 * Connect onboarding on the Stripe adapter, against the fake Stripe: a
 * developer organization connects a payout account (v2, recipient
 * configuration, Express dashboard), onboards through single-use Account
 * Links, and Plaza keeps the status in step from signed `account.updated`
 * webhooks, including redelivered and out-of-order ones.
 */
describe('payout account onboarding (Stripe)', () => {
  let started: PlazaOnFakeStripe;
  let fake: FakeStripe;
  let plaza: PlazaServer;

  beforeAll(async () => {
    started = await startPlazaOnFakeStripe();
    ({ fake, plaza } = started);
  });
  afterAll(() => started?.close());

  const status = async (dev: Awaited<ReturnType<typeof developer>>) =>
    (await dev.agent.get(`/v1/organizations/${dev.orgId}/payouts/account`).expect(200)).body;

  it('says which provider runs', async () => {
    const res = await plaza.http.get('/v1/payments/provider').expect(200);
    expect(res.body).toEqual({ provider: 'stripe', mode: 'test', sandbox: false });
  });

  it('connects, onboards through a single-use link, and follows account.updated', async () => {
    const dev = await developer(plaza);
    const api = (path: string) =>
      dev.agent.post(`/v1/organizations/${dev.orgId}/payouts/account${path}`).set('x-csrf-token', dev.csrf);

    expect(await status(dev)).toMatchObject({
      state: 'not_connected',
      canReceivePayouts: false,
      holdReason: 'No payout account is connected yet.',
    });
    const connected = (await api('').send({ country: 'US' }).expect(200)).body;
    expect(connected).toMatchObject({ provider: 'stripe', sandbox: false, state: 'onboarding' });
    expect(connected.accountId).toMatch(/^acct_/);
    // A second click returns the same account; Stripe got one create.
    expect((await api('').send({}).expect(200)).body.accountId).toBe(connected.accountId);
    expect(fake.requests.filter((r) => r.method === 'POST' && r.path === '/v2/core/accounts')).toHaveLength(
      1,
    );
    const created = await fake.client().v2.core.accounts.retrieve(connected.accountId);
    expect(created.dashboard).toBe('express');
    expect(created.applied_configurations).toEqual(['recipient']);

    const link = (await api('/onboarding-link').expect(200)).body;
    expect(Date.parse(link.expiresAt)).toBeGreaterThan(Date.now());
    const first = await fetch(link.url, { redirect: 'manual' });
    expect(first.status).toBe(200);
    // Used once: the person is sent to Plaza's refresh page, which re-authenticates and mints a new link.
    const again = await fetch(link.url, { redirect: 'manual' });
    expect(again.headers.get('location')).toBe(
      `${plaza.baseUrl}/orgs/${dev.orgId}/payouts-account?onboarding=refresh`,
    );
    const fresh = (await api('/onboarding-link').expect(200)).body;
    expect(fresh.url).not.toBe(link.url);
    await fetch(fresh.url, { redirect: 'manual' });
    const done = await fetch(`${fresh.url}/submit`, { method: 'POST', redirect: 'manual' });
    expect(done.headers.get('location')).toBe(
      `${plaza.baseUrl}/orgs/${dev.orgId}/payouts-account?onboarding=return`,
    );

    // The account.updated webhook brings the state in.
    await fake.flush();
    await waitFor('the account to be active', async () => (await status(dev)).state === 'active');
    expect(await status(dev)).toMatchObject({
      canReceivePayouts: true,
      payoutsEnabled: true,
      holdReason: null,
      requirements: { currentlyDue: [], pastDue: [], deadline: null },
    });

    // Stripe asks for a document by a deadline: still paid, the console shows what and when.
    const deadline = new Date(Date.now() + 10 * 86_400_000);
    fake.requireInformation(connected.accountId, ['individual.verification.document'], { deadline });
    await fake.flush();
    const due = await status(dev);
    expect(due).toMatchObject({ state: 'action_required', canReceivePayouts: true });
    expect(due.requirements.currentlyDue).toEqual([
      { name: 'individual.verification.document', description: 'Identity document' },
    ]);
    expect(Date.parse(due.requirements.deadline)).toBe(Math.floor(deadline.getTime() / 1000) * 1000);

    // Past the deadline: restricted, payouts held with the reason.
    fake.requireInformation(connected.accountId, ['individual.verification.document'], { pastDue: true });
    await fake.flush();
    const held = await status(dev);
    expect(held).toMatchObject({ state: 'restricted', canReceivePayouts: false });
    expect(held.holdReason).toContain('Identity document');
    const port = await plaza.core.payments.payoutProvider.accountStatus(dev.orgId);
    expect(port).toMatchObject({ canReceive: false, providerAccountId: connected.accountId });
  });

  it('processes each event once and ends in the current state when events come twice and out of order', async () => {
    const dev = await developer(plaza);
    const api = (path: string) =>
      dev.agent.post(`/v1/organizations/${dev.orgId}/payouts/account${path}`).set('x-csrf-token', dev.csrf);
    const { accountId } = (await api('').send({}).expect(200)).body;

    fake.holdWebhooks();
    fake.completeOnboarding(accountId); // older: active
    fake.requireInformation(accountId, ['external_account'], { pastDue: true }); // newer: restricted
    const held = fake.events.slice(-2).map((e) => e.id);
    await fake.release({ order: 'reverse', twice: true });

    const answers = fake.deliveries.filter((d) => held.includes(d.eventId));
    expect(answers).toHaveLength(4);
    expect(answers.every((d) => d.status === 200)).toBe(true);
    const rows = await plaza.core.db.query(
      'SELECT event_id FROM payments_provider_events WHERE event_id = ANY($1)',
      [held],
    );
    expect(rows).toHaveLength(2);
    // The older event arrived last, but Plaza fetched the account: it is restricted, as on Stripe.
    expect(await status(dev)).toMatchObject({ state: 'restricted', canReceivePayouts: false });
  });

  it('refuses unsigned, forged and stale webhooks with 400 and records nothing', async () => {
    const payload = JSON.stringify({
      id: 'evt_forged',
      object: 'event',
      type: 'account.updated',
      created: Math.floor(Date.now() / 1000),
      data: { object: { id: 'acct_x' } },
    });
    const post = (headers: Record<string, string>) =>
      plaza.http
        .post('/v1/payments/stripe/webhook')
        .set('content-type', 'application/json')
        .set(headers)
        .send(payload);
    const missing = await post({}).expect(400);
    expect(missing.body).toMatchObject({
      code: 'PLAZA_VALIDATION',
      fields: [{ field: 'header.stripe-signature' }],
    });
    const stripe = new Stripe('sk_test_x');
    const forged = stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_not_the_secret' });
    await post({ 'stripe-signature': forged }).expect(400);
    const stale = stripe.webhooks.generateTestHeaderString({
      payload,
      secret: fake.webhookSecret,
      timestamp: Math.floor(Date.now() / 1000) - 301,
    });
    await post({ 'stripe-signature': stale }).expect(400);
    const fine = stripe.webhooks.generateTestHeaderString({ payload, secret: fake.webhookSecret });
    const ok = await post({ 'stripe-signature': fine }).expect(200);
    // An account Plaza does not know: recorded as seen, nothing else happens.
    expect(ok.body).toEqual({ received: true, eventId: 'evt_forged', outcome: 'ignored' });
    expect(
      await plaza.core.db.query("SELECT 1 FROM payments_provider_events WHERE event_id = 'evt_forged'"),
    ).toHaveLength(1);
    // The Connect endpoint's secret (Stripe signs each endpoint with its own) verifies too.
    const connectPayload = payload.replace('evt_forged', 'evt_connect');
    const connect = stripe.webhooks.generateTestHeaderString({
      payload: connectPayload,
      secret: fake.connectWebhookSecret,
    });
    await plaza.http
      .post('/v1/payments/stripe/webhook')
      .set('content-type', 'application/json')
      .set('stripe-signature', connect)
      .send(connectPayload)
      .expect(200);
  });

  it('lets only admins of developer or agency organizations connect, and members read', async () => {
    const dev = await developer(plaza);
    const customer = await signUp(plaza);
    const account = await createOrg(customer, 'account');
    await customer.agent
      .post(`/v1/organizations/${account.id}/payouts/account`)
      .set('x-csrf-token', customer.csrf)
      .send({})
      .expect(403);
    // Someone else's organization: not found or forbidden, never its status.
    const other = await customer.agent.get(`/v1/organizations/${dev.orgId}/payouts/account`);
    expect([403, 404]).toContain(other.status);
    const bad = await dev.agent
      .post(`/v1/organizations/${dev.orgId}/payouts/account`)
      .set('x-csrf-token', dev.csrf)
      .send({ country: 'usa' })
      .expect(400);
    expect(bad.body.fields[0]).toMatchObject({ field: 'body.country' });
  });
});
