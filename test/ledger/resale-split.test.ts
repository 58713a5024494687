import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeSplit } from '../../server/modules/ledger/revenue.ts';

/**
 * Resale splits (an agency's markup in the amount): the schedule splits the
 * developer's price only, the markup goes to the agency, the fee is borne pro
 * rata, and no cent is created or lost.
 */
const rule = (platformBps: number, agencyBps = 0) => ({
  id: 'rsr_x',
  scope: 'default' as const,
  tiers: [{ upTo: null, platformBps }],
  agencyBps,
  effectiveFrom: new Date(),
});

describe('resale split', () => {
  it('gives the markup to the agency and splits the rest as the developer price alone would be', () => {
    // 58.80 = 49.00 developer price + 9.80 markup, no fee: exact shares.
    const s = computeSplit(
      rule(2500),
      {
        amount: 5_880n,
        currency: 'USD',
        processingFee: 0n,
        developerOrgId: 'd',
        agencyOrgId: 'a',
        markup: 980n,
      },
      0n,
    );
    expect(s.parts).toEqual([
      { role: 'platform', amount: 1_225n },
      { role: 'developer', party: 'd', amount: 3_675n },
      { role: 'agency', party: 'a', amount: 980n, markup: 980n },
    ]);
    // Tiers run over the developer's price only.
    expect(s.rule.slices).toEqual([{ amount: 4_900n, platformBps: 2500 }]);
  });

  it('conserves every cent for any amount, fee, markup and schedule (property)', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 2n, max: 10n ** 12n }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        fc.integer({ min: 0, max: 10000 }),
        fc.integer({ min: 0, max: 10000 }),
        (amount, markupRatio, feeRatio, platformBps, agencyBps) => {
          const markup = BigInt(Math.floor(Number(amount - 1n) * markupRatio));
          const fee = BigInt(Math.floor(Number(amount) * feeRatio));
          const s = computeSplit(
            rule(platformBps, agencyBps),
            { amount, currency: 'USD', processingFee: fee, developerOrgId: 'd', agencyOrgId: 'a', markup },
            0n,
          );
          expect(s.processingFee + s.parts.reduce((a, p) => a + p.amount, 0n)).toBe(amount);
          expect(s.parts.every((p) => p.amount >= 0n)).toBe(true);
          const agency = s.parts.find((p) => p.role === 'agency')!;
          const exact = (Number(amount - fee) * Number(markup)) / Number(amount);
          expect(Math.abs(Number(agency.markup ?? 0n) - exact)).toBeLessThanOrEqual(
            1 + Number(amount) * 1e-15,
          );
          expect(agency.amount >= (agency.markup ?? 0n)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});
