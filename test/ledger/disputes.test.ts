import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../server/db/index.ts';
import { PlazaError } from '../../server/errors.ts';
import type { RecordDisputeInput } from '../../server/modules/ledger/port.ts';
import { createLedgerService, type LedgerService } from '../../server/modules/ledger/service.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/**
 * Disputes through the ledger's port: the partner's share at the charge's
 * rates is held while the dispute is open, comes back when it is won, and is
 * borne like a refund when it is lost; the fee is the platform's loss either
 * way. Each phase posts once and a close seen before the opening still ends
 * balanced. (The flow through payments and the fake Stripe is in
 * test/payments/refunds.test.ts.)
 */
let t: TestDatabase;
let db: Db;
let ledger: LedgerService;
let n = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  db = t.db;
  ledger = createLedgerService({ db });
});
afterAll(async () => {
  await t?.drop();
});

async function charge(developerOrgId: string) {
  n++;
  const invoiceId = `inv_d${n}`;
  const c = await db.transaction((tx) =>
    ledger.recordCharge(tx, {
      invoiceId,
      providerChargeId: `ch_d${n}`,
      provider: 'sandbox',
      customerOrgId: 'org_customer',
      developerOrgId,
      appId: 'app_1',
      amount: 10_000n,
      currency: 'USD',
      processingFee: 320n,
      settlesAt: new Date(Date.now() + 86_400_000),
    }),
  );
  const share = c.split.parts.find((p) => p.role === 'developer')!.amount;
  const platform = c.split.parts.find((p) => p.role === 'platform')!.amount;
  return { invoiceId, share, platform };
}

const dispute = (input: Omit<RecordDisputeInput, 'provider' | 'currency' | 'fee'> & { fee?: bigint }) =>
  db.transaction((tx) =>
    ledger.recordDispute(tx, { provider: 'sandbox', currency: 'USD', fee: 1_500n, ...input }),
  );
const bal = (kind: 'partner_pending' | 'disputes_held' | 'receivable_from_partner', party: string) =>
  ledger.balance({ kind, party }, 'USD');
const losses = () => ledger.balance({ kind: 'dispute_losses' }, 'USD');
async function expectBalanced() {
  const v = await ledger.verify();
  expect(v.unbalanced).toEqual([]);
  expect(v.mismatches).toEqual([]);
}

describe('disputes in the ledger', () => {
  it('a lost dispute seen before its opening posts both once; the partner bears its share, the platform the rest and the fee', async () => {
    const { invoiceId, share, platform } = await charge('org_d1');
    const before = await losses();
    const lost = await dispute({ disputeId: 'dp_1', invoiceId, phase: 'lost', amount: 10_000n });
    expect(lost.replayed).toBe(false);
    expect(await bal('disputes_held', 'org_d1')).toBe(0n);
    expect(await bal('partner_pending', 'org_d1')).toBe(0n);
    // The platform's share (with the processing fee it already paid, as refunds count it) and the dispute fee.
    expect((await losses()) - before).toBe(10_000n - share + 1_500n);
    expect(10_000n - share).toBe(platform + 320n);
    await expectBalanced();

    // The late opening and a repeated close write nothing; the other outcome is a conflict.
    const opened = await dispute({ disputeId: 'dp_1', invoiceId, phase: 'opened', amount: 10_000n });
    expect(opened.replayed).toBe(true);
    expect(
      (await dispute({ disputeId: 'dp_1', invoiceId, phase: 'lost', amount: 10_000n })).transactionId,
    ).toBe(lost.transactionId);
    await expect(
      dispute({ disputeId: 'dp_1', invoiceId, phase: 'won', amount: 10_000n }),
    ).rejects.toMatchObject({
      status: 409,
    });
    const keys = await db.query(
      "SELECT idempotency_key FROM ledger_transactions WHERE idempotency_key LIKE 'dispute:dp_1:%' ORDER BY 1",
    );
    expect(keys.map((k) => k.idempotency_key)).toEqual(['dispute:dp_1:lost', 'dispute:dp_1:opened']);
    expect((await losses()) - before).toBe(10_000n - share + 1_500n);

    // Nothing is left of the charge to refund.
    await expect(
      db.transaction((tx) =>
        ledger.recordRefund(tx, {
          refundId: 'ref_d1',
          invoiceId,
          providerRefundId: 're_d1',
          provider: 'sandbox',
          amount: 1n,
          currency: 'USD',
        }),
      ),
    ).rejects.toMatchObject({ status: 400 });
    await expectBalanced();
  });

  it('a partial dispute holds the share at the charge rates; won, it comes back and only the fee is lost', async () => {
    const { invoiceId, share } = await charge('org_d2');
    const before = await losses();
    await dispute({ disputeId: 'dp_2', invoiceId, phase: 'opened', amount: 4_000n });
    const heldShare = await bal('disputes_held', 'org_d2');
    // 4,000 of 10,000 at the charge's rates: the partner's part of the gross, rounded to the unit.
    expect(heldShare * 10_000n - share * 4_000n).toBeLessThanOrEqual(10_000n);
    expect(heldShare * 10_000n - share * 4_000n).toBeGreaterThanOrEqual(-10_000n);
    expect(await bal('partner_pending', 'org_d2')).toBe(share - heldShare);
    expect((await losses()) - before).toBe(4_000n + 1_500n);
    await expectBalanced();

    // A refund of the rest meanwhile takes only what is not held.
    const r = await db.transaction((tx) =>
      ledger.recordRefund(tx, {
        refundId: 'ref_d2',
        invoiceId,
        providerRefundId: 're_d2',
        provider: 'sandbox',
        amount: 6_000n,
        currency: 'USD',
      }),
    );
    expect(r.split.partners[0]!.amount + heldShare).toBe(share);
    expect(await bal('partner_pending', 'org_d2')).toBe(0n);

    await dispute({ disputeId: 'dp_2', invoiceId, phase: 'won', amount: 4_000n });
    expect(await bal('disputes_held', 'org_d2')).toBe(0n);
    expect(await bal('partner_pending', 'org_d2')).toBe(heldShare);
    expect((await losses()) - before).toBe(1_500n);
    await expectBalanced();
  });

  it('refuses bad disputes with the field and reason, writing nothing', async () => {
    const { invoiceId } = await charge('org_d3');
    const count = async () => (await db.one('SELECT count(*)::int AS c FROM ledger_transactions')).c;
    const start = await count();
    const reasons = async (p: Promise<unknown>) => {
      const err = (await p.catch((e) => e)) as PlazaError;
      expect(err).toBeInstanceOf(PlazaError);
      return { status: err.status, fields: err.fields?.map((f) => f.field) };
    };
    expect(await reasons(dispute({ disputeId: 'dp_3', invoiceId, phase: 'opened', amount: 0n }))).toEqual({
      status: 400,
      fields: ['amount'],
    });
    expect(
      await reasons(dispute({ disputeId: 'dp_3', invoiceId, phase: 'opened', amount: 10_001n })),
    ).toEqual({ status: 400, fields: ['amount'] });
    expect(
      await reasons(dispute({ disputeId: 'dp_3', invoiceId: 'inv_nope', phase: 'opened', amount: 100n })),
    ).toMatchObject({ status: 404 });
    expect(
      await reasons(
        db.transaction((tx) =>
          ledger.recordDispute(tx, {
            disputeId: 'dp_3',
            invoiceId,
            provider: 'sandbox',
            phase: 'opened',
            amount: 100n,
            fee: 0n,
            currency: 'EUR',
          }),
        ),
      ),
    ).toEqual({ status: 400, fields: ['currency'] });
    expect(await count()).toBe(start);
    // The same dispute with another amount is a conflict once recorded.
    await dispute({ disputeId: 'dp_3', invoiceId, phase: 'opened', amount: 100n });
    expect(
      await reasons(dispute({ disputeId: 'dp_3', invoiceId, phase: 'won', amount: 200n })),
    ).toMatchObject({ status: 409 });
    await expectBalanced();
  });
});
