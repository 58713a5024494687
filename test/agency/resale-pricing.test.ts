import { describe, expect, it } from 'vitest';
import { resalePricing } from '../../server/modules/agency/resale.ts';

/** The agency's price from the developer's and a markup: never below it, whole minor units. */
describe('resale pricing', () => {
  it('adds a percentage (rounded up) or a fixed amount to one-time and recurring prices', () => {
    const monthly = {
      type: 'recurring',
      interval: 'month',
      amount: 999,
      currency: 'USD',
      trialDays: 0,
    } as const;
    expect(resalePricing(monthly, { type: 'percent', value: 1500 })).toMatchObject({ amount: 1_149 });
    expect(resalePricing(monthly, { type: 'fixed', value: 1 })).toMatchObject({ amount: 1_000 });
    expect(resalePricing(monthly, { type: 'percent', value: 0 })).toMatchObject({ amount: 999 });
    const once = { type: 'one_time', amount: 5_000, currency: 'EUR' } as const;
    expect(resalePricing(once, { type: 'fixed', value: 250 })).toEqual({ ...once, amount: 5_250 });
  });

  it('marks up a usage price by percent on the unit price and the cap, and refuses a fixed markup', () => {
    const usage = {
      type: 'usage',
      unitName: 'message',
      unitAmount: 3,
      currency: 'USD',
      cappedAmount: 10_000,
    } as const;
    expect(resalePricing(usage, { type: 'percent', value: 5000 })).toEqual({
      ...usage,
      unitAmount: 5,
      cappedAmount: 15_000,
    });
    expect(() => resalePricing(usage, { type: 'fixed', value: 1 })).toThrow(/percent markup/);
  });
});
