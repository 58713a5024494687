import { z } from 'zod';

/** What a listing is filed under and what it costs: shared by app versions and the marketplace. */
export const CATEGORIES = [
  'analytics',
  'communication',
  'crm',
  'marketing',
  'payments',
  'productivity',
  'reporting',
  'scheduling',
  'support',
  'other',
] as const;
export const Category = z.enum(CATEGORIES);

const Currency = z
  .string()
  .regex(/^[A-Z]{3}$/, { message: 'must be an ISO 4217 code in capitals, e.g. USD' });
/** Money is integer minor units (cents), never floats. */
const Amount = z.number().int({ message: 'must be whole minor units (cents)' }).positive().max(100_000_000);

export const Pricing = z
  .discriminatedUnion('type', [
    z.object({ type: z.literal('free') }),
    z.object({ type: z.literal('one_time'), amount: Amount, currency: Currency }),
    z.object({
      type: z.literal('recurring'),
      interval: z.enum(['month', 'year']),
      amount: Amount,
      currency: Currency,
      trialDays: z.number().int().min(0).max(365).default(0),
    }),
    z.object({
      type: z.literal('usage'),
      unitName: z.string().trim().min(1).max(40).describe('What is counted, e.g. "message"'),
      unitAmount: Amount.describe('Price of one unit in minor units'),
      currency: Currency,
      cappedAmount: Amount.describe('Most a customer pays in one month, in minor units'),
    }),
  ])
  .meta({ id: 'Pricing' });
export type Pricing = z.output<typeof Pricing>;
export const PRICING_TYPES = ['free', 'one_time', 'recurring', 'usage'] as const;
