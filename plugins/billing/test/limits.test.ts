import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlazaServer } from '../../../test/helpers/plaza.ts';
import { createOrg, type SignedIn, signUp } from '../../../test/helpers/world.ts';
import { post, startBilling } from './world.ts';

/**
 * Plan limits through core's `organization.limits`: a create beyond the plan
 * answers 402 PLAZA_ENTITLEMENT naming the feature and the plan that unlocks
 * it; a degraded subscription is held to the free plan's limits without
 * losing data, and recovers at once.
 */
let plaza: PlazaServer;
let operator: SignedIn;
let owner: SignedIn;

beforeAll(async () => {
  ({ plaza, operator } = await startBilling());
  const plan = (body: object) =>
    post(operator, '/v1/billing/plans', { currency: 'USD', priceYear: 0, ...body });
  await plan({ key: 'free', name: 'Free', isFree: true, priceMonth: 0, features: { contacts: 2 } }).expect(
    201,
  );
  await plan({
    key: 'pro',
    name: 'Pro',
    priceMonth: 3000,
    priceYear: 30000,
    features: { contacts: 4 },
  }).expect(201);
  await plan({ key: 'team', name: 'Team', priceMonth: 9000, priceYear: 90000, trialDays: 14 }).expect(201);
  owner = await signUp(plaza, { name: 'Lina Limits' });
}, 60_000);
afterAll(() => plaza?.close());

let n = 0;
const addContact = (orgId: string) =>
  post(owner, `/v1/organizations/${orgId}/contacts`, { name: `Contact ${++n}`, email: `c${n}@example.test` });
const contactCount = async (orgId: string) =>
  (await owner.agent.get(`/v1/organizations/${orgId}/contacts`).query({ limit: 100 }).expect(200)).body.data
    .length;

describe('limits', () => {
  it("without a subscription the free plan's limits apply; beyond them 402 names the feature and the plan that unlocks it", async () => {
    const acct = await createOrg(owner, 'account', 'Small Shop');
    await addContact(acct.id).expect(201);
    await addContact(acct.id).expect(201);
    const refused = await addContact(acct.id);
    expect(refused.status).toBe(402);
    expect(refused.headers['content-type']).toMatch(/problem\+json/);
    expect(refused.body).toMatchObject({
      code: 'PLAZA_ENTITLEMENT',
      feature: 'contacts',
      limit: 2,
      current: 2,
      plan: 'free',
      unlockedBy: 'pro',
      reason: 'plan_limit',
    });
    expect(await contactCount(acct.id)).toBe(2);
  });

  it('a plan with more room (a trial of an unlimited plan) lifts the limit at once', async () => {
    const acct = await createOrg(owner, 'account', 'Trial Shop');
    await addContact(acct.id).expect(201);
    await addContact(acct.id).expect(201);
    expect((await addContact(acct.id)).status).toBe(402);
    await owner.agent
      .put(`/v1/billing/organizations/${acct.id}/subscription`)
      .set('x-csrf-token', owner.csrf)
      .send({ plan: 'team' })
      .expect(200);
    await addContact(acct.id).expect(201);
    await addContact(acct.id).expect(201);
    expect(await contactCount(acct.id)).toBe(4);
  });

  it('degraded (unpaid past the grace period): held to the free plan, nothing deleted; paid: back at once', async () => {
    const acct = await createOrg(owner, 'account', 'Late Payer');
    await owner.agent
      .put(`/v1/billing/organizations/${acct.id}/subscription`)
      .set('x-csrf-token', owner.csrf)
      .send({ plan: 'team' })
      .expect(200);
    for (let i = 0; i < 3; i++) await addContact(acct.id).expect(201);
    // The state the dunning job leaves after the grace period (plans.test.ts drives it end to end).
    await plaza.core.db.query(
      "UPDATE billing_subscriptions SET status = 'degraded' WHERE organization_id = $1",
      [acct.id],
    );
    const refused = await addContact(acct.id);
    expect(refused.status).toBe(402);
    expect(refused.body).toMatchObject({
      feature: 'contacts',
      plan: 'free',
      unlockedBy: 'team',
      reason: 'degraded',
    });
    // Read-only, not gone.
    expect(await contactCount(acct.id)).toBe(3);
    await plaza.core.db.query(
      "UPDATE billing_subscriptions SET status = 'active' WHERE organization_id = $1",
      [acct.id],
    );
    await addContact(acct.id).expect(201);
  });

  it('concurrent creates at the limit: exactly the limit passes (core counts under its lock)', async () => {
    const acct = await createOrg(owner, 'account', 'Busy Shop');
    const results = await Promise.all(Array.from({ length: 8 }, () => addContact(acct.id)));
    expect(results.filter((r) => r.status === 201)).toHaveLength(2);
    expect(results.filter((r) => r.status === 402)).toHaveLength(6);
    expect(await contactCount(acct.id)).toBe(2);
  });
});

describe('degradation order', () => {
  let staged: PlazaServer;
  let admin: SignedIn;
  let boss: SignedIn;
  beforeAll(async () => {
    // Installed apps degrade right after the grace period, contacts 2 days later; seats never.
    ({ plaza: staged, operator: admin } = await startBilling({
      PLAZA_PLUGIN_BILLING_DEGRADE_ORDER: 'installations,contacts',
      PLAZA_PLUGIN_BILLING_DEGRADE_EVERY_DAYS: '2',
    }));
    const plan = (body: object) =>
      post(admin, '/v1/billing/plans', { currency: 'USD', priceYear: 0, ...body });
    await plan({ key: 'free', name: 'Free', isFree: true, priceMonth: 0, features: { contacts: 1 } }).expect(
      201,
    );
    await plan({ key: 'team', name: 'Team', priceMonth: 9000, priceYear: 90000, trialDays: 14 }).expect(201);
    boss = await signUp(staged, { name: 'Stella Staged' });
  }, 60_000);
  afterAll(() => staged?.close());

  it('features fall to the free plan one after another, in the configured order', async () => {
    const acct = await createOrg(boss, 'account', 'Staged Shop');
    await boss.agent
      .put(`/v1/billing/organizations/${acct.id}/subscription`)
      .set('x-csrf-token', boss.csrf)
      .send({ plan: 'team' })
      .expect(200);
    const add = () =>
      post(boss, `/v1/organizations/${acct.id}/contacts`, { name: `C ${++n}`, email: `s${n}@example.test` });
    await add().expect(201);
    const degradedSince = (days: number) =>
      staged.core.db.query(
        `UPDATE billing_subscriptions SET status = 'degraded', grace_until = now() - make_interval(days => $2)
          WHERE organization_id = $1`,
        [acct.id, days],
      );
    await degradedSince(1); // installations degraded, contacts not yet
    await add().expect(201);
    await degradedSince(3); // contacts too
    const refused = await add();
    expect(refused.status).toBe(402);
    expect(refused.body).toMatchObject({ feature: 'contacts', reason: 'degraded', plan: 'free' });
  });
});
