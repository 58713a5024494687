import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlazaServer } from '../../../test/helpers/plaza.ts';
import { waitFor } from '../../../test/helpers/wait.ts';
import { createOrg, type SignedIn, signUp } from '../../../test/helpers/world.ts';
import { post, startBilling } from './world.ts';

/**
 * A payment fails -> grace period with retries at 1, 3 and 5 days -> degraded
 * to the free plan's limits (read-only above them, nothing deleted) -> paid
 * on the payment page -> restored at once. Days pass by moving the
 * subscription's dates into the past in the database. Also: credit top-ups
 * paid on the payment page, and the operator's subscribers view.
 */
let plaza: PlazaServer;
let operator: SignedIn;
let owner: SignedIn;
const DAY = 86_400_000;

beforeAll(async () => {
  ({ plaza, operator } = await startBilling());
  const plan = (body: object) =>
    post(operator, '/v1/billing/plans', { currency: 'USD', priceYear: 0, ...body });
  await plan({ key: 'free', name: 'Free', isFree: true, priceMonth: 0, features: { contacts: 1 } }).expect(
    201,
  );
  await plan({
    key: 'pro',
    name: 'Pro',
    priceMonth: 2500,
    priceYear: 25000,
    features: { contacts: 100 },
  }).expect(201);
  await plan({ key: 'team', name: 'Team', priceMonth: 9000, priceYear: 90000, trialDays: 14 }).expect(201);
  owner = await signUp(plaza, { name: 'Dana Dunning' });
}, 60_000);
afterAll(() => plaza?.close());

const api = (orgId: string, path: string) => `/v1/billing/organizations/${orgId}${path}`;
const subscription = async (orgId: string) =>
  (await owner.agent.get(api(orgId, '/subscription')).expect(200)).body.subscription;
const openInvoices = async (orgId: string) =>
  (await owner.agent.get(api(orgId, '/invoices')).expect(200)).body.data.filter(
    (i: { status: string }) => i.status === 'open',
  );
let n = 0;
const addContact = (orgId: string) =>
  post(owner, `/v1/organizations/${orgId}/contacts`, { name: `Contact ${++n}`, email: `d${n}@example.test` });

async function payOnPage(url: string) {
  const sessionId = new URL(url).pathname.split('/').pop();
  await plaza.http
    .post(`/v1/payments/sandbox/checkout/${sessionId}/pay`)
    .send({ card: '4242424242424242' })
    .expect(200);
}

/** Moves the past-due clock: the first failure `days` ago. */
const pastDueFor = (orgId: string, days: number) =>
  plaza.core.db.query(
    `UPDATE billing_subscriptions SET past_due_since = now() - make_interval(days => $2),
       grace_until = now() - make_interval(days => $2) + make_interval(days => 7) WHERE organization_id = $1`,
    [orgId, days],
  );

describe('grace, dunning, degradation and recovery', () => {
  it('a failed payment keeps the plan for the grace period, retries on days 1, 3, 5, then degrades; paying restores at once', async () => {
    const acct = await createOrg(owner, 'account', 'Forgetful Shop');
    const res = await owner.agent
      .put(api(acct.id, '/subscription'))
      .set('x-csrf-token', owner.csrf)
      .send({ plan: 'pro' })
      .expect(200);
    expect(res.body).toMatchObject({ payment: 'failed', subscription: { status: 'past_due' } });
    const sub = await subscription(acct.id);
    expect(new Date(sub.graceUntil).getTime() - Date.now()).toBeGreaterThan(6.9 * DAY);
    // During grace the plan is whole: Pro allows more than the free plan's one contact.
    await addContact(acct.id).expect(201);
    await addContact(acct.id).expect(201);

    const [invoice] = await openInvoices(acct.id);
    expect(invoice.paymentAttempts).toBe(1);
    for (const [day, attempts] of [
      [1, 2],
      [3, 3],
      [5, 4],
    ]) {
      await pastDueFor(acct.id, day);
      await waitFor(
        `the retry of day ${day}`,
        async () => (await openInvoices(acct.id))[0]?.paymentAttempts === attempts,
      );
    }
    expect((await subscription(acct.id)).status).toBe('past_due');

    await pastDueFor(acct.id, 8);
    await waitFor('degradation', async () => (await subscription(acct.id)).status === 'degraded');
    const refused = await addContact(acct.id);
    expect(refused.status).toBe(402);
    expect(refused.body).toMatchObject({
      code: 'PLAZA_ENTITLEMENT',
      reason: 'degraded',
      plan: 'free',
      unlockedBy: 'pro',
    });
    // Nothing was deleted.
    const contacts = await owner.agent.get(`/v1/organizations/${acct.id}/contacts`).expect(200);
    expect(contacts.body.data).toHaveLength(2);

    // The owner was told each time, with a link to the plan page.
    const mails = await waitFor('the dunning emails', async () => {
      const box = (await plaza.core.mail.mailbox(50, owner.user.email)).filter((m) =>
        m.subject.includes('Forgetful Shop'),
      );
      return box.length >= 5 ? box : undefined;
    });
    expect(mails.map((m) => m.subject).sort()).toEqual([
      'Forgetful Shop is limited until the open invoice is paid',
      'Payment for Forgetful Shop failed',
      'Payment for Forgetful Shop failed again (attempt 1)',
      'Payment for Forgetful Shop failed again (attempt 2)',
      'Payment for Forgetful Shop failed again (attempt 3)',
    ]);
    expect(mails[0].text).toContain(`/orgs/${acct.id}/x/billing/plan`);

    const { url } = (await post(owner, api(acct.id, `/invoices/${invoice.id}/pay`), {}).expect(200)).body;
    await payOnPage(url);
    await waitFor('recovery', async () => (await subscription(acct.id)).status === 'active');
    expect((await subscription(acct.id)).graceUntil).toBeNull();
    await addContact(acct.id).expect(201);
    const events = await plaza.core.db.query(
      "SELECT payload->>'status' AS status FROM events WHERE type = 'billing.subscription_changed' AND organization_id = $1 ORDER BY id",
      [acct.id],
    );
    expect(events.map((e) => e.status)).toEqual(['active', 'past_due', 'degraded', 'active']);
  }, 90_000);

  it('a credit top-up is paid on the payment page and credited once', async () => {
    const acct = await createOrg(owner, 'account', 'Credit Buyer');
    const bad = await post(owner, api(acct.id, '/credits/top-ups'), { credits: 0 });
    expect(bad.status).toBe(400);
    expect(bad.body.fields[0].field).toBe('body.credits');
    const top = await post(owner, api(acct.id, '/credits/top-ups'), { credits: 500 }).expect(201);
    expect(top.body).toMatchObject({ amount: 500, currency: 'USD' });
    await payOnPage(top.body.url);
    await waitFor(
      'the credits',
      async () => (await owner.agent.get(api(acct.id, '/credits')).expect(200)).body.balance === 500,
    );
    const grants = (await owner.agent.get(api(acct.id, '/credits')).expect(200)).body.grants;
    expect(grants).toEqual([expect.objectContaining({ source: 'top_up', amount: 500, remaining: 500 })]);
  }, 30_000);

  it('the operator sees subscribers, MRR and counts per state; people cannot', async () => {
    const res = await operator.agent.get('/v1/billing/subscribers').expect(200);
    expect(res.body.counts).toMatchObject({ active: 1 });
    expect(res.body.mrr).toEqual([{ currency: 'USD', amount: 2500 }]);
    expect((await owner.agent.get('/v1/billing/subscribers')).status).toBe(403);
  });

  it('reminds the owner 3 days before a trial ends (and not of the 7-day mark late)', async () => {
    const acct = await createOrg(owner, 'account', 'Trial Reminder Shop');
    await owner.agent
      .put(api(acct.id, '/subscription'))
      .set('x-csrf-token', owner.csrf)
      .send({ plan: 'team' })
      .expect(200);
    await plaza.core.db.query(
      `UPDATE billing_subscriptions SET trial_end = now() + interval '60 hours', period_end = now() + interval '60 hours'
        WHERE organization_id = $1`,
      [acct.id],
    );
    const mail = await waitFor('the trial reminder', async () =>
      (await plaza.core.mail.mailbox(50, owner.user.email)).find((m) =>
        m.subject.includes('Trial Reminder Shop'),
      ),
    );
    expect(mail.subject).toBe("Trial Reminder Shop's Team trial ends in 3 days");
    expect(mail.text).toContain('90.00 USD');
    // One reminder per threshold: the next passes of the cycle send nothing more.
    await new Promise((r) => setTimeout(r, 2500));
    const all = (await plaza.core.mail.mailbox(50, owner.user.email)).filter((m) =>
      m.subject.includes('Trial Reminder Shop'),
    );
    expect(all).toHaveLength(1);
  }, 30_000);
});
