import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PlazaServer } from '../../../test/helpers/plaza.ts';
import { waitFor } from '../../../test/helpers/wait.ts';
import { createOrg, type SignedIn, signUp } from '../../../test/helpers/world.ts';
import { post, signIn, startBilling } from './world.ts';

/**
 * Agency rebilling: an agency bills its sub-account its own price for the
 * plan's fee (never below the platform's), from the next period on; the
 * sub-account's invoice shows only the agency's price. Invoices finalize at
 * once (INVOICE_DELAY_HOURS=0); the period is moved into the past in the database.
 */
let plaza: PlazaServer;
let operator: SignedIn;
const DAY = 86_400_000;

beforeAll(async () => {
  ({ plaza, operator } = await startBilling({ PLAZA_PLUGIN_BILLING_INVOICE_DELAY_HOURS: '0' }));
  await post(operator, '/v1/billing/plans', {
    key: 'pro',
    name: 'Pro',
    currency: 'USD',
    priceMonth: 3000,
    priceYear: 30000,
  }).expect(201);
}, 60_000);
afterAll(() => plaza?.close());

const api = (orgId: string, path: string) => `/v1/billing/organizations/${orgId}${path}`;
const put = (who: SignedIn, path: string, body: object) =>
  who.agent.put(path).set('x-csrf-token', who.csrf).send(body);

describe('agency rebilling', () => {
  it("bills the sub-account the agency's price from the next period; only the agency's admins set it, never below the platform's price", async () => {
    const agencyOwner = await signUp(plaza, { name: 'Ada Agency' });
    const agency = await createOrg(agencyOwner, 'agency', 'Growth Agency');
    const sub = (
      await post(agencyOwner, `/v1/organizations/${agency.id}/sub-accounts`, {
        name: 'Dental Clinic',
      }).expect(201)
    ).body as { id: string };

    // Before a subscription there is nothing to price.
    const early = await put(agencyOwner, api(sub.id, '/subscription/agency-price'), { price: 4500 });
    expect(early.status).toBe(409);

    await put(agencyOwner, api(sub.id, '/subscription'), { plan: 'pro', interval: 'month' }).expect(200);

    // The sub-account's own admin cannot set the price it is billed.
    const clinicAdmin = await signUp(plaza, { name: 'Cleo Clinic' });
    await plaza.core.db.query(
      "INSERT INTO memberships (organization_id, user_id, role) VALUES ($1, $2, 'admin')",
      [sub.id, clinicAdmin.user.id],
    );
    const own = await put(clinicAdmin, api(sub.id, '/subscription/agency-price'), { price: 1 });
    expect(own.status).toBe(403);

    const below = await put(agencyOwner, api(sub.id, '/subscription/agency-price'), { price: 2999 });
    expect(below.status).toBe(400);
    expect(below.body.fields).toEqual([{ field: 'body.price', reason: expect.stringContaining('30.00') }]);

    const set = await put(agencyOwner, api(sub.id, '/subscription/agency-price'), { price: 4500 }).expect(
      200,
    );
    expect(set.body).toMatchObject({ price: 4500, platformPrice: 3000, currency: 'USD' });
    const current = (await agencyOwner.agent.get(api(sub.id, '/subscription')).expect(200)).body.subscription;
    expect(set.body.appliesFrom).toBe(current.periodEnd); // the current period was billed already

    // The period ends today: the renewal invoice bills the agency's price, and only it.
    const today = new Date(Math.floor(Date.now() / DAY) * DAY);
    const start = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, today.getUTCDate()));
    await plaza.core.db.query(
      'UPDATE billing_subscriptions SET period_start = $2, period_end = $3 WHERE organization_id = $1',
      [sub.id, start.toISOString(), today.toISOString()],
    );
    const invoicesOf = async () =>
      (await clinicAdmin.agent.get(api(sub.id, '/invoices')).expect(200)).body.data as Array<{
        status: string;
        total: number;
        lines: Array<{ kind: string; amount: number; description: string }>;
      }>;
    await waitFor('the renewal invoice', async () => {
      const list = await invoicesOf();
      return list.length === 2 && list[0].status !== 'draft';
    });
    const [renewal, first] = await invoicesOf();
    expect(first.total).toBe(3000); // subscribed before the agency priced it
    expect(renewal.total).toBe(4500);
    expect(renewal.lines.map((l) => [l.kind, l.amount])).toEqual([
      ['subscription', 4500],
      ['tax', 0],
    ]);
    expect(JSON.stringify(renewal.lines)).not.toMatch(/3000|30\.00/);

    // The books: the sub-account owes 45.00; 30.00 is the platform's, the 15.00 markup the
    // agency's (its pending balance, paid out after its net terms like a resold app's markup).
    const [booked] = await plaza.core.db.query(
      `SELECT t.id, json_object_agg(a.kind || ':' || e.direction, e.amount::int) AS entries
       FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
       JOIN ledger_accounts a ON a.id = e.account_id
       WHERE t.source_kind = 'invoice' AND t.description = $1 GROUP BY t.id`,
      [`Invoice ${(renewal as any).number}`],
    );
    expect(booked.entries).toEqual({
      'customer_receivable:debit': 4500,
      'platform_revenue:credit': 3000,
      'partner_pending:credit': 1500,
    });
    expect(await plaza.core.ledger.balance({ kind: 'partner_pending', party: agency.id }, 'USD')).toBe(1500n);
    expect(await plaza.core.ledger.balance({ kind: 'customer_receivable', party: sub.id }, 'USD')).toBe(
      7500n,
    );
    const check = await plaza.core.ledger.verify();
    expect(check.unbalanced).toEqual([]);
    expect(check.mismatches).toEqual([]);

    // Null gives the plan's price back.
    const cleared = await put(agencyOwner, api(sub.id, '/subscription/agency-price'), { price: null }).expect(
      200,
    );
    expect(cleared.body.price).toBeNull();
  }, 90_000);
});
