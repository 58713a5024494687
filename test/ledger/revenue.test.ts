import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../server/db/index.ts';
import { PlazaError } from '../../server/errors.ts';
import type { RecordChargeInput } from '../../server/modules/ledger/port.ts';
import { computeSplit } from '../../server/modules/ledger/revenue.ts';
import { createLedgerService, type LedgerService } from '../../server/modules/ledger/service.ts';
import { allocate } from '../../server/modules/ledger/split.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let t: TestDatabase;
let db: Db;
let ledger: LedgerService;
let clock = new Date('2026-03-01T12:00:00Z');
let n = 0;

beforeAll(async () => {
  t = await createTestDatabase();
  db = t.db;
  ledger = createLedgerService({ db, now: () => clock });
});
afterAll(async () => {
  await t?.drop();
});

const DAY = 86_400_000;
function chargeInput(over: Partial<RecordChargeInput> = {}): RecordChargeInput {
  n++;
  return {
    invoiceId: `inv_${n}`,
    providerChargeId: `ch_${n}`,
    provider: 'sandbox',
    customerOrgId: 'org_customer',
    developerOrgId: 'org_dev',
    appId: 'app_1',
    amount: 10_000n,
    currency: 'USD',
    processingFee: 320n,
    settlesAt: new Date(clock.getTime() + 2 * DAY),
    ...over,
  };
}
const record = (i: RecordChargeInput) => db.transaction((tx) => ledger.recordCharge(tx, i));

describe('9. a split conserves the total exactly', () => {
  it('largest remainder: parts sum to the total and each is within one unit of its exact share', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 15n }),
        fc
          .array(fc.bigInt({ min: 0n, max: 10n ** 9n }), { minLength: 1, maxLength: 8 })
          .filter((w) => w.some((x) => x > 0n)),
        (total, weights) => {
          const parts = allocate(total, weights);
          const sum = weights.reduce((a, b) => a + b, 0n);
          expect(parts.reduce((a, b) => a + b, 0n)).toBe(total);
          parts.forEach((p, i) => {
            const exact = total * weights[i];
            // floor(exact/sum) <= p <= floor(exact/sum) + 1
            expect(p * sum <= exact + sum).toBe(true);
            expect(p * sum >= exact - sum).toBe(true);
            expect(p >= 0n).toBe(true);
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('every charge split (any tiers, fee, lifetime, agency) gives fee + parts = amount, none negative', () => {
    const tiers = fc
      .array(
        fc.record({
          upTo: fc.bigInt({ min: 1n, max: 10n ** 9n }),
          platformBps: fc.integer({ min: 0, max: 10000 }),
        }),
        {
          maxLength: 3,
        },
      )
      .chain((head) =>
        fc.integer({ min: 0, max: 10000 }).map((last) => {
          const ups = [...new Set(head.map((h) => h.upTo))].sort((a, b) => (a < b ? -1 : 1));
          return [
            ...ups.map((u, i) => ({ upTo: u as bigint | null, platformBps: head[i].platformBps })),
            { upTo: null, platformBps: last },
          ];
        }),
      );
    fc.assert(
      fc.property(
        tiers,
        fc.bigInt({ min: 1n, max: 10n ** 12n }),
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        fc.integer({ min: 0, max: 10000 }),
        fc.boolean(),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (ts, amount, lifetime, agencyBps, withAgency, feeRatio) => {
          const fee = BigInt(Math.floor(Number(amount) * feeRatio * 0.2));
          const s = computeSplit(
            { id: 'rsr_x', scope: 'default', tiers: ts, agencyBps, effectiveFrom: new Date() },
            {
              amount,
              currency: 'USD',
              processingFee: fee,
              developerOrgId: 'd',
              agencyOrgId: withAgency ? 'a' : null,
            },
            lifetime,
          );
          expect(s.processingFee + s.parts.reduce((a, p) => a + p.amount, 0n)).toBe(amount);
          expect(s.parts.every((p) => p.amount >= 0n)).toBe(true);
          expect(s.rule.slices.reduce((a, x) => a + x.amount, 0n)).toBe(amount);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a charge posts its split to the ledger exactly, with the rule that applied', async () => {
    const input = chargeInput({ developerOrgId: 'org_seed', amount: 999n, processingFee: 59n });
    const r = await record(input);
    // Seeds' default: the developer keeps 75% of the net (940): 705, platform 235.
    expect(r.split.parts).toEqual([
      { role: 'platform', amount: 235n },
      { role: 'developer', party: 'org_seed', amount: 705n },
    ]);
    expect(r.split.rule).toMatchObject({ ruleId: 'rsr_default', scope: 'default', summary: 'flat 25%' });
    const tx = await ledger.transaction(r.transactionId);
    expect(tx?.entries.map((e) => [e.account.kind, e.direction, e.amount])).toEqual([
      ['provider_cash', 'debit', 940n],
      ['processing_fees', 'debit', 59n],
      ['platform_revenue', 'credit', 294n],
      ['partner_pending', 'credit', 705n],
    ]);
    expect(await ledger.balance({ kind: 'partner_pending', party: 'org_seed' }, 'USD')).toBe(705n);
    // The same invoice again is the same charge; other amounts are a conflict.
    const again = await record({ ...input });
    expect(again.replayed).toBe(true);
    expect(again.transactionId).toBe(r.transactionId);
    await expect(record({ ...input, amount: 1000n })).rejects.toMatchObject({ code: 'PLAZA_CONFLICT' });
    expect(await ledger.balance({ kind: 'partner_pending', party: 'org_seed' }, 'USD')).toBe(705n);
  });
});

describe('revenue-share schedule', () => {
  it('tiers by lifetime revenue: 0% up to $1,000,000 then 15%, sliced inside the charge that crosses it', async () => {
    await ledger.addRule(
      {
        scope: 'developer',
        target: 'org_tier',
        tiers: [
          { upTo: 100_000_000n, platformBps: 0 },
          { upTo: null, platformBps: 1500 },
        ],
      },
      'usr_op',
    );
    const first = await record(
      chargeInput({ developerOrgId: 'org_tier', amount: 99_990_000n, processingFee: 0n }),
    );
    expect(first.split.parts[0]).toEqual({ role: 'platform', amount: 0n });
    expect(first.split.rule.summary).toBe('0% up to 1000000.00 USD lifetime, then 15%');
    // $200 more: $100 at 0%, $100 at 15% → platform $15.
    const crossing = await record(
      chargeInput({ developerOrgId: 'org_tier', amount: 20_000n, processingFee: 0n }),
    );
    expect(crossing.split.rule.slices).toEqual([
      { amount: 10_000n, platformBps: 0 },
      { amount: 10_000n, platformBps: 1500 },
    ]);
    expect(crossing.split.parts).toEqual([
      { role: 'platform', amount: 1_500n },
      { role: 'developer', party: 'org_tier', amount: 18_500n },
    ]);
    const after = await record(
      chargeInput({ developerOrgId: 'org_tier', amount: 10_000n, processingFee: 300n }),
    );
    // 15% of the net 9,700.
    expect(after.split.parts[0]).toEqual({ role: 'platform', amount: 1_455n });
  });

  it('the most specific rule wins: developer over category over default; agencies get their part', async () => {
    await ledger.addRule(
      { scope: 'category', target: 'crm', tiers: [{ upTo: null, platformBps: 2000 }], agencyBps: 5000 },
      null,
    );
    const cat = await record(
      chargeInput({
        developerOrgId: 'org_c1',
        category: 'crm',
        processingFee: 0n,
        agencyOrgId: 'org_agency',
      }),
    );
    expect(cat.split.rule.scope).toBe('category');
    expect(cat.split.parts).toEqual([
      { role: 'platform', amount: 1_000n },
      { role: 'developer', party: 'org_c1', amount: 8_000n },
      { role: 'agency', party: 'org_agency', amount: 1_000n },
    ]);
    await ledger.addRule(
      { scope: 'developer', target: 'org_c2', tiers: [{ upTo: null, platformBps: 1000 }] },
      null,
    );
    const dev = await record(chargeInput({ developerOrgId: 'org_c2', category: 'crm', processingFee: 0n }));
    expect(dev.split.rule.scope).toBe('developer');
    expect(dev.split.parts[0].amount).toBe(1_000n);
    const other = await record(
      chargeInput({ developerOrgId: 'org_c3', category: 'games', processingFee: 0n }),
    );
    expect(other.split.rule.ruleId).toBe('rsr_default');
  });

  it('never retroactive: a rule cannot start in the past, and one starting later leaves earlier charges alone', async () => {
    const err = await ledger
      .addRule(
        {
          scope: 'default',
          tiers: [{ upTo: null, platformBps: 2000 }],
          effectiveFrom: new Date(clock.getTime() - DAY),
        },
        null,
      )
      .catch((e) => e);
    expect(err).toBeInstanceOf(PlazaError);
    expect(err.fields).toEqual([
      { field: 'effectiveFrom', reason: expect.stringMatching(/never retroactive/) },
    ]);
    const future = await ledger.addRule(
      {
        scope: 'developer',
        target: 'org_fut',
        tiers: [{ upTo: null, platformBps: 1000 }],
        effectiveFrom: new Date(clock.getTime() + DAY),
      },
      null,
    );
    const before = await record(chargeInput({ developerOrgId: 'org_fut', processingFee: 0n }));
    expect(before.split.parts[0].amount).toBe(2_500n);
    clock = new Date(clock.getTime() + 2 * DAY);
    const later = await record(chargeInput({ developerOrgId: 'org_fut', processingFee: 0n }));
    expect(later.split.rule.ruleId).toBe(future.id);
    expect(later.split.parts[0].amount).toBe(1_000n);
    // A rule in force cannot be withdrawn.
    await expect(ledger.deleteRule(future.id)).rejects.toMatchObject({ code: 'PLAZA_CONFLICT' });
  });

  it('refuses bad tiers with the field and reason', async () => {
    const bad = async (tiers: any) =>
      (await ledger.addRule({ scope: 'default', tiers }, null).catch((e) => e)).fields;
    expect(await bad([])).toEqual([{ field: 'tiers', reason: 'needs 1 to 10 tiers' }]);
    expect(await bad([{ upTo: null, platformBps: 10001 }])).toEqual([
      { field: 'tiers[0].platformBps', reason: 'must be an integer from 0 to 10000' },
    ]);
    expect(
      await bad([
        { upTo: 5n, platformBps: 0 },
        { upTo: 3n, platformBps: 0 },
        { upTo: null, platformBps: 0 },
      ]),
    ).toEqual([{ field: 'tiers[1].upTo', reason: 'must grow from tier to tier' }]);
  });
});

describe('10. refunds split at the original charge rates', () => {
  it('uses the rule of the charge even after the schedule changed', async () => {
    const input = chargeInput({ developerOrgId: 'org_r10', amount: 10_000n, processingFee: 0n });
    const c = await record(input);
    expect(c.split.parts[0].amount).toBe(2_500n);
    await ledger.addRule(
      { scope: 'developer', target: 'org_r10', tiers: [{ upTo: null, platformBps: 0 }] },
      null,
    );
    clock = new Date(clock.getTime() + 1000);
    const r = await db.transaction((tx) =>
      ledger.recordRefund(tx, {
        refundId: 'ref_r10',
        invoiceId: input.invoiceId,
        providerRefundId: 're_r10',
        provider: 'sandbox',
        amount: 4_000n,
        currency: 'USD',
      }),
    );
    expect(r.split.platform).toBe(1_000n);
    expect(r.split.partners).toEqual([
      {
        role: 'developer',
        party: 'org_r10',
        amount: 3_000n,
        fromBalance: 3_000n,
        fromTransfer: 0n,
        transfers: [],
      },
    ]);
    expect(await ledger.balance({ kind: 'partner_pending', party: 'org_r10' }, 'USD')).toBe(4_500n);
  });

  it('partial refunds in any order add up to the full parts, with the fee staying a platform loss', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.bigInt({ min: 2n, max: 1_000_000n }),
        fc.array(fc.double({ min: 0.01, max: 1, noNaN: true }), { minLength: 1, maxLength: 5 }),
        async (amount, cuts) => {
          const fee = amount / 30n;
          const input = chargeInput({
            developerOrgId: 'org_prop',
            agencyOrgId: 'org_prop_ag',
            category: 'crm',
            amount,
            processingFee: fee,
          });
          const c = await record(input);
          // Cut the amount into refunds ending with what is left.
          let left = amount;
          const refunds: bigint[] = [];
          for (const x of cuts) {
            const a = BigInt(Math.max(1, Math.floor(Number(left) * x)));
            if (a >= left) break;
            refunds.push(a);
            left -= a;
          }
          refunds.push(left);
          let platform = 0n;
          const partners = new Map<string, bigint>();
          for (const [i, a] of refunds.entries()) {
            const r = await db.transaction((tx) =>
              ledger.recordRefund(tx, {
                refundId: `ref_${input.invoiceId}_${i}`,
                invoiceId: input.invoiceId,
                providerRefundId: `re_${input.invoiceId}_${i}`,
                provider: 'sandbox',
                amount: a,
                currency: 'USD',
              }),
            );
            expect(r.split.platform + r.split.partners.reduce((s, p) => s + p.amount, 0n)).toBe(a);
            platform += r.split.platform;
            for (const p of r.split.partners) partners.set(p.party, (partners.get(p.party) ?? 0n) + p.amount);
          }
          for (const p of c.split.parts.filter((x) => x.role !== 'platform'))
            expect(partners.get(p.party!)).toBe(p.amount);
          expect(platform).toBe(c.split.parts[0].amount + fee);
          // Nothing more can be refunded.
          await expect(
            db.transaction((tx) =>
              ledger.recordRefund(tx, {
                refundId: `ref_${input.invoiceId}_x`,
                invoiceId: input.invoiceId,
                providerRefundId: 're_x',
                provider: 'sandbox',
                amount: 1n,
                currency: 'USD',
              }),
            ),
          ).rejects.toMatchObject({
            code: 'PLAZA_VALIDATION',
            fields: [{ field: 'amount', reason: expect.stringMatching(/left to refund \(0\)/) }],
          });
        },
      ),
      { numRuns: 25 },
    );
    const v = await ledger.verify();
    expect(v.mismatches).toEqual([]);
    expect(await ledger.balance({ kind: 'partner_pending', party: 'org_prop' }, 'USD')).toBe(0n);
  });
});
