import { z } from '../../server/plugin-api/index.ts';

/**
 * Prices of plans, in integer minor units. Computations run on bigint so no
 * sum of usage can round or overflow; results leave as numbers (safe below
 * 2^53, which a bill never reaches).
 */
const Minor = z.number().int().min(0).max(1e12);

const Tier = z.object({
  /** Last overage unit of this tier (inclusive); null on the last tier: no end. */
  upTo: z.number().int().min(1).nullable(),
  unitAmount: Minor,
  flatAmount: Minor.default(0),
});

export const OveragePrice = z
  .discriminatedUnion('model', [
    /** Every unit above the included amount at one price. */
    z.object({ model: z.literal('flat'), unitAmount: Minor }),
    /** Started packages of `packageSize` units at `packageAmount` each (1,000 tokens for 2 cents). */
    z.object({ model: z.literal('package'), packageSize: z.number().int().min(1), packageAmount: Minor }),
    /** Each unit at the price of the tier it falls in. */
    z.object({ model: z.literal('graduated'), tiers: z.array(Tier).min(1).max(20) }),
    /** All units at the price of the tier the total reaches. */
    z.object({ model: z.literal('volume'), tiers: z.array(Tier).min(1).max(20) }),
  ])
  .superRefine((p, ctx) => {
    if (p.model !== 'graduated' && p.model !== 'volume') return;
    p.tiers.forEach((t, i) => {
      const last = i === p.tiers.length - 1;
      if (last && t.upTo !== null)
        ctx.addIssue({
          code: 'custom',
          path: ['tiers', i, 'upTo'],
          message: 'the last tier has no end: null',
        });
      if (!last && t.upTo === null)
        ctx.addIssue({
          code: 'custom',
          path: ['tiers', i, 'upTo'],
          message: 'only the last tier may be open',
        });
      const prev = p.tiers[i - 1]?.upTo;
      if (i > 0 && t.upTo !== null && prev != null && t.upTo <= prev)
        ctx.addIssue({ code: 'custom', path: ['tiers', i, 'upTo'], message: 'tiers must grow' });
    });
  });
export type OveragePrice = z.output<typeof OveragePrice>;

/** The price of `units` of overage (units above the included amount). */
export function overageAmount(price: OveragePrice, units: number): bigint {
  const q = BigInt(Math.max(0, units));
  if (q === 0n) return 0n;
  switch (price.model) {
    case 'flat':
      return q * BigInt(price.unitAmount);
    case 'package': {
      const size = BigInt(price.packageSize);
      return ((q + size - 1n) / size) * BigInt(price.packageAmount);
    }
    case 'graduated': {
      let total = 0n;
      let from = 0n;
      for (const t of price.tiers) {
        if (from >= q) break;
        const to = t.upTo === null ? q : BigInt(t.upTo) < q ? BigInt(t.upTo) : q;
        total += (to - from) * BigInt(t.unitAmount) + BigInt(t.flatAmount);
        from = to;
      }
      return total;
    }
    case 'volume': {
      const tier = price.tiers.find((t) => t.upTo === null || q <= BigInt(t.upTo))!;
      return q * BigInt(tier.unitAmount) + BigInt(tier.flatAmount);
    }
  }
}

/**
 * A plan change at `days` days before the period's end (of `total` days):
 * the unused part of the old price is credited and the rest of the period of
 * the new price charged. `used + credit === oldPrice` exactly (the credit is
 * rounded down, the customer never gets more back than they paid).
 */
export function proration(oldPrice: number, newPrice: number, remainingDays: number, totalDays: number) {
  const r = BigInt(Math.max(0, Math.min(remainingDays, totalDays)));
  const d = BigInt(totalDays);
  const credit = (BigInt(oldPrice) * r) / d;
  const charge = (BigInt(newPrice) * r) / d;
  return { credit, charge, used: BigInt(oldPrice) - credit, net: charge - credit };
}

export const formatMoney = (amount: number | bigint, currency: string) => {
  const n = BigInt(amount);
  const sign = n < 0n ? '-' : '';
  const abs = n < 0n ? -n : n;
  return `${sign}${abs / 100n}.${String(abs % 100n).padStart(2, '0')} ${currency.toUpperCase()}`;
};
