import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlaza } from '../helpers/plaza.ts';
import { createOrg, type SignedIn, signInWithPlatformRole, signUp } from '../helpers/world.ts';

let plaza: Awaited<ReturnType<typeof startPlaza>>;
let admin: SignedIn;
let reviewer: SignedIn;
let developer: SignedIn;

beforeAll(async () => {
  plaza = await startPlaza({}, { workers: false });
  admin = await signInWithPlatformRole(plaza, 'admin');
  reviewer = await signInWithPlatformRole(plaza, 'reviewer');
  developer = await signUp(plaza);
});
afterAll(async () => {
  await plaza?.close();
});

const post = (who: SignedIn, path: string, body: object) =>
  who.agent.post(path).set('x-csrf-token', who.csrf).send(body);

describe('operator revenue-share API', () => {
  it('lists the seeds default (developers keep 75%) to platform admins only', async () => {
    const res = await admin.agent.get('/v1/admin/revenue-share/rules').expect(200);
    expect(res.body.data).toContainEqual(
      expect.objectContaining({
        id: 'rsr_default',
        scope: 'default',
        tiers: [{ upTo: null, platformBps: 2500 }],
        inForce: true,
      }),
    );
    await reviewer.agent.get('/v1/admin/revenue-share/rules').expect(403);
    await developer.agent.get('/v1/admin/revenue-share/rules').expect(403);
    await plaza.http.get('/v1/admin/revenue-share/rules').expect(401);
  });

  it('adds a tiered rule for a developer and previews a split with the rule that applied', async () => {
    const org = await createOrg(developer, 'developer');
    const created = await post(admin, '/v1/admin/revenue-share/rules', {
      scope: 'developer',
      target: org.id,
      tiers: [
        { upTo: 100_000_000, platformBps: 0 },
        { upTo: null, platformBps: 1500 },
      ],
    }).expect(201);
    expect(created.body).toMatchObject({ scope: 'developer', target: org.id, inForce: true });
    expect(created.body.summary).toBe('0% up to 100000000 minor units of lifetime, then 15%');
    const preview = await post(admin, '/v1/admin/revenue-share/preview', {
      amount: 10_000,
      currency: 'USD',
      processingFee: 320,
      developerOrgId: org.id,
    }).expect(200);
    expect(preview.body).toMatchObject({
      amount: 10_000,
      processingFee: 320,
      parts: [
        { role: 'platform', amount: 0 },
        { role: 'developer', party: org.id, amount: 9_680 },
      ],
      rule: {
        ruleId: created.body.id,
        scope: 'developer',
        summary: '0% up to 1000000.00 USD lifetime, then 15%',
      },
    });
  });

  it('answers bad amounts and retroactive rules with 400 PLAZA_VALIDATION and the field', async () => {
    for (const amount of [-1, 0, 1.5, '100', 1e16]) {
      const res = await post(admin, '/v1/admin/revenue-share/preview', {
        amount,
        currency: 'USD',
        developerOrgId: 'org_x',
      }).expect(400);
      expect(res.body.type).toMatch(/validation/);
      expect(res.body.fields[0].field).toBe('body.amount');
    }
    const cur = await post(admin, '/v1/admin/revenue-share/preview', {
      amount: 5,
      currency: 'usd',
      developerOrgId: 'org_x',
    }).expect(400);
    expect(cur.body.fields[0].field).toBe('body.currency');
    const past = await post(admin, '/v1/admin/revenue-share/rules', {
      scope: 'default',
      effectiveFrom: '2020-01-01T00:00:00Z',
      tiers: [{ upTo: null, platformBps: 2000 }],
    }).expect(400);
    expect(past.body.fields).toEqual([
      { field: 'effectiveFrom', reason: expect.stringMatching(/never retroactive/) },
    ]);
    const bps = await post(admin, '/v1/admin/revenue-share/rules', {
      scope: 'default',
      tiers: [{ upTo: null, platformBps: 20000 }],
    }).expect(400);
    expect(bps.body.fields[0].field).toBe('body.tiers.0.platformBps');
  });

  it('withdraws a future rule, refuses to withdraw one in force', async () => {
    const future = await post(admin, '/v1/admin/revenue-share/rules', {
      scope: 'category',
      target: 'crm',
      effectiveFrom: new Date(Date.now() + 86_400_000).toISOString(),
      tiers: [{ upTo: null, platformBps: 2000 }],
    }).expect(201);
    expect(future.body.inForce).toBe(false);
    await admin.agent
      .delete(`/v1/admin/revenue-share/rules/${future.body.id}`)
      .set('x-csrf-token', admin.csrf)
      .expect(204);
    const inForce = await admin.agent
      .delete('/v1/admin/revenue-share/rules/rsr_default')
      .set('x-csrf-token', admin.csrf)
      .expect(409);
    expect(inForce.body.detail).toMatch(/in force/);
  });

  it('sets payout terms and checks the ledger', async () => {
    await admin.agent
      .put('/v1/admin/partners/org_terms/payout-terms')
      .set('x-csrf-token', admin.csrf)
      .send({ netDays: 30 })
      .expect(200);
    await admin.agent
      .put('/v1/admin/partners/org_terms/payout-terms')
      .set('x-csrf-token', admin.csrf)
      .send({ netDays: 7 })
      .expect(400);
    expect(await plaza.core.ledger.payoutTerms('org_terms')).toEqual({ party: 'org_terms', netDays: 30 });
    const check = await admin.agent.get('/v1/admin/ledger/check').expect(200);
    expect(check.body).toMatchObject({ mismatches: [], unbalanced: [] });
  });
});
