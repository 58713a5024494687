import { z } from 'zod';
import { Timestamp } from '../../http/route.ts';

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

// What the marketplace answers with: listings and ratings (the service's DTOs are their z.output).

export const RatingSummarySchema = z
  .object({
    average: z
      .number()
      .nullable()
      .describe('Average stars of the visible ratings (two decimals); null without any'),
    count: z.number().int(),
  })
  .meta({ id: 'RatingSummary' });

export const ListingSummarySchema = z
  .object({
    appId: z.string(),
    slug: z.string(),
    name: z.string(),
    tagline: z.string(),
    category: z.string(),
    pricing: Pricing,
    iconUrl: z.string().nullable(),
    developer: z.object({ name: z.string() }),
    rating: RatingSummarySchema,
    installCount: z.number().int().describe('Accounts with the app installed now'),
    publishedAt: Timestamp.describe('When the live version went live'),
    listedAt: Timestamp.describe('When the app first appeared in the marketplace'),
  })
  .meta({ id: 'MarketplaceApp' });

export const ListingDetailSchema = ListingSummarySchema.extend({
  descriptionHtml: z
    .string()
    .describe('The Markdown description rendered to safe HTML (no raw HTML, http(s) links)'),
  scopes: z.array(
    z.object({
      name: z.string(),
      description: z.string().describe('What the scope lets the app do, in plain words'),
      optional: z.boolean(),
    }),
  ),
  screenshotUrls: z.array(z.string()),
  supportUrl: z.string().nullable(),
  privacyUrl: z.string().nullable(),
  termsUrl: z.string().nullable(),
  installUrl: z
    .string()
    .nullable()
    .describe(
      "Where the Install button goes: the app's install link with plaza_url (this Plaza) added; null when the app has none",
    ),
  version: z.object({ id: z.string(), number: z.number().int() }),
}).meta({ id: 'MarketplaceAppPage' });

export const RatingSchema = z
  .object({
    id: z.string(),
    rating: z.number().int().min(1).max(5),
    body: z.string(),
    account: z.object({ name: z.string() }).describe('The reviewing account'),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    reply: z.object({ body: z.string(), createdAt: Timestamp }).nullable().describe("The developer's reply"),
  })
  .meta({ id: 'AppReview' });

export const OwnRatingSchema = RatingSchema.extend({
  hidden: z.boolean().describe('Hidden by an operator: not shown publicly nor counted'),
}).meta({ id: 'OwnAppReview' });

export const ModeratedRatingSchema = RatingSchema.extend({
  app: z.object({ id: z.string(), slug: z.string(), name: z.string() }),
  accountId: z.string(),
  hidden: z.object({ at: Timestamp, reason: z.string() }).nullable(),
}).meta({ id: 'ModeratedAppReview' });
