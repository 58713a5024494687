import { z } from 'zod';

/**
 * The shapes of an app version, shared by the API (validation + OpenAPI), the
 * manifest import/export, the review diff and the marketplace listing.
 */
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

export const ScopeRequest = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$/, { message: 'must be resource:action' }),
    justification: z
      .string()
      .trim()
      .max(500)
      .default('')
      .describe('Why the app needs it (reviewers read this)'),
    optional: z.boolean().default(false).describe('Shown as a checkbox on the consent screen'),
  })
  .meta({ id: 'ScopeRequest' });

// http(s) only: these become links on the marketplace page (the review checks then require https).
const Url = z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).max(2000);

/** Listing text: what the marketplace shows. Reviewed like the rest of the version. */
export const ListingFields = z.object({
  name: z.string().trim().min(2).max(60),
  tagline: z.string().trim().max(120).default(''),
  description: z.string().max(20_000).default('').describe('Markdown; raw HTML is not rendered'),
  category: Category.default('other'),
  supportUrl: Url.nullable().default(null),
  privacyUrl: Url.nullable().default(null),
  termsUrl: Url.nullable().default(null),
});

/** Everything a developer edits on a draft version (all optional on PATCH). */
export const VersionFields = ListingFields.extend({
  redirectUris: z.array(z.string().max(2000)).max(20).default([]),
  installUrl: z
    .string()
    .trim()
    .max(2000)
    .nullable()
    .default(null)
    .describe(
      "The app's own page that starts installing it (it begins the OAuth flow). The marketplace's Install button sends people there with ?plaza_url=<this Plaza>. https, or http only for localhost; reviewed like redirect URIs",
    ),
  scopes: z.array(ScopeRequest).max(50).default([]),
  webhookEvents: z
    .array(
      z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/, {
        message: 'must be an event type like contact.created',
      }),
    )
    .max(100)
    .default([]),
  pricing: Pricing.default({ type: 'free' }),
});
export type VersionFields = z.output<typeof VersionFields>;

/**
 * The declarative manifest: one JSON document per version, kept in the
 * developer's repository and imported back. Assets are referenced, not embedded.
 */
export const AppManifest = z
  .object({
    $schema: z.string().optional(),
    manifestVersion: z.literal(1),
    slug: z.string(),
    version: VersionFields,
    /** Uploaded assets of the same app, by id (upload through the API first). */
    assets: z
      .object({
        iconAssetId: z.string().max(64).nullable().default(null),
        screenshotAssetIds: z.array(z.string().max(64)).max(8).default([]),
      })
      .optional(),
  })
  .meta({ id: 'AppManifest' });
export type AppManifest = z.output<typeof AppManifest>;

export const SLUG = /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/;
/** Slugs that would collide with pages or mislead users. */
export const RESERVED_SLUGS = new Set([
  'admin',
  'api',
  'app',
  'apps',
  'docs',
  'help',
  'login',
  'logout',
  'marketplace',
  'new',
  'oauth',
  'plaza',
  'search',
  'settings',
  'signup',
  'support',
  'v1',
]);
