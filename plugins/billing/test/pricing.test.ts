import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addMonthsUTC, periodContaining } from '../periods.ts';
import { OveragePrice, overageAmount, proration } from '../pricing.ts';

/** The pure money rules: prorations add up to the period, overage models price as documented. */
describe('proration', () => {
  it('the used part and the credit add up to the old price exactly, and the credit never exceeds it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        fc.integer({ min: 28, max: 366 }),
        fc.nat(400),
        (oldPrice, newPrice, total, left) => {
          const remaining = Math.min(left, total);
          const p = proration(oldPrice, newPrice, remaining, total);
          expect(p.used + p.credit).toBe(BigInt(oldPrice));
          expect(p.credit <= BigInt(oldPrice)).toBe(true);
          expect(p.charge <= BigInt(newPrice)).toBe(true);
          expect(p.net).toBe(p.charge - p.credit);
          // Splitting the period at any day: the two parts of one price add up to the price.
          const first = proration(0, newPrice, total - remaining, total).charge;
          const rest = proration(0, newPrice, remaining, total).charge;
          expect(BigInt(newPrice) - (first + rest) >= 0n && BigInt(newPrice) - (first + rest) <= 1n).toBe(
            true,
          );
        },
      ),
    );
  });
});

describe('overage', () => {
  const tiers = [
    { upTo: 100, unitAmount: 10, flatAmount: 0 },
    { upTo: 1000, unitAmount: 5, flatAmount: 100 },
    { upTo: null, unitAmount: 1, flatAmount: 0 },
  ];

  it('prices each model as documented', () => {
    expect(overageAmount({ model: 'flat', unitAmount: 3 }, 7)).toBe(21n);
    expect(overageAmount({ model: 'package', packageSize: 1000, packageAmount: 50 }, 2345)).toBe(150n);
    expect(overageAmount({ model: 'package', packageSize: 1000, packageAmount: 50 }, 2000)).toBe(100n);
    // Graduated: 100 x 10 + (100 + 900 x 5) + 500 x 1.
    expect(overageAmount({ model: 'graduated', tiers }, 1500)).toBe(1000n + 100n + 4500n + 500n);
    // Volume: all 1,500 units at the last tier's price.
    expect(overageAmount({ model: 'volume', tiers }, 1500)).toBe(1500n);
    expect(overageAmount({ model: 'volume', tiers }, 100)).toBe(1000n);
    expect(overageAmount({ model: 'volume', tiers }, 101)).toBe(505n + 100n);
    expect(overageAmount({ model: 'flat', unitAmount: 3 }, 0)).toBe(0n);
  });

  it('graduated pricing never falls as usage grows, and equals the sum of its tiers', () => {
    fc.assert(
      fc.property(fc.nat(100_000), fc.nat(1000), (units, more) => {
        const price = { model: 'graduated' as const, tiers };
        expect(overageAmount(price, units + more) >= overageAmount(price, units)).toBe(true);
      }),
    );
  });

  it('refuses tiers that do not grow or an open tier that is not last', () => {
    const bad = OveragePrice.safeParse({
      model: 'graduated',
      tiers: [
        { upTo: 100, unitAmount: 1 },
        { upTo: 50, unitAmount: 1 },
        { upTo: 200, unitAmount: 1 },
      ],
    });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues.map((i) => i.path.join('.'))).toEqual(['tiers.1.upTo', 'tiers.2.upTo']);
  });
});

describe('periods', () => {
  it('monthly periods from an anchor on the 31st clamp to month ends and always contain the moment', () => {
    const anchor = new Date(Date.UTC(2026, 0, 31));
    expect(addMonthsUTC(anchor, 1).toISOString().slice(0, 10)).toBe('2026-02-28');
    expect(addMonthsUTC(anchor, 2).toISOString().slice(0, 10)).toBe('2026-03-31');
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) }), (t) => {
        const at = new Date(t);
        for (const interval of ['month', 'year'] as const) {
          const p = periodContaining(anchor, interval, at);
          expect(p.start <= at && at < p.end).toBe(true);
        }
      }),
    );
  });
});
