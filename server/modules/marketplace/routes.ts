import { z } from 'zod';
import { defineRoute, Pagination, page, Timestamp } from '../../http/route.ts';
import { Category, PRICING_TYPES, Pricing } from './schemas.ts';
import { type MarketplaceService, SORTS } from './service.ts';

const Rating = z
  .object({
    average: z
      .number()
      .nullable()
      .describe('Average stars of the visible reviews (two decimals); null without any'),
    count: z.number().int(),
  })
  .meta({ id: 'RatingSummary' });

const Summary = z
  .object({
    appId: z.string(),
    slug: z.string(),
    name: z.string(),
    tagline: z.string(),
    category: z.string(),
    pricing: Pricing,
    iconUrl: z.string().nullable(),
    developer: z.object({ name: z.string() }),
    rating: Rating,
    installCount: z.number().int().describe('Accounts with the app installed now'),
    publishedAt: Timestamp.describe('When the live version went live'),
    listedAt: Timestamp.describe('When the app first appeared in the marketplace'),
  })
  .meta({ id: 'MarketplaceApp' });

const Detail = Summary.extend({
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

const RatingSchema = z
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

const OwnRatingSchema = RatingSchema.extend({
  hidden: z.boolean().describe('Hidden by an operator: not shown publicly nor counted'),
}).meta({ id: 'OwnAppReview' });

const ModeratedRatingSchema = RatingSchema.extend({
  app: z.object({ id: z.string(), slug: z.string(), name: z.string() }),
  accountId: z.string(),
  hidden: z.object({ at: Timestamp, reason: z.string() }).nullable(),
}).meta({ id: 'ModeratedAppReview' });

const Slug = z.string().min(1).max(64);
const OrgParams = z.object({ orgId: z.string().max(64) });
const Reason = z.string().trim().min(3, { message: 'say why, in a few words' }).max(1000);

export function marketplaceRoutes({ marketplace }: { marketplace: MarketplaceService }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/marketplace/apps',
      summary: 'Search the marketplace',
      tag: 'Marketplace',
      access: { kind: 'public' },
      query: Pagination.extend({
        q: z
          .string()
          .trim()
          .max(200)
          .optional()
          .transform((v) => v || undefined)
          .describe('Search words over name, tagline and description ("quoted phrase", -exclude, or)'),
        category: Category.optional(),
        pricing: z.enum(PRICING_TYPES).optional(),
        sort: z
          .enum(SORTS)
          .optional()
          .describe('Default: relevance with q, else popular (relevance without q is popular)'),
      }),
      response: page(Summary),
      handler: ({ query }) => marketplace.search(query),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/marketplace/apps/:slug',
      summary: 'An app page',
      tag: 'Marketplace',
      access: { kind: 'public' },
      params: z.object({ slug: Slug }),
      response: Detail,
      handler: ({ params }) => marketplace.getBySlug(params.slug),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/marketplace/apps/:slug/reviews',
      summary: 'Reviews of an app',
      tag: 'Marketplace',
      access: { kind: 'public' },
      params: z.object({ slug: Slug }),
      query: Pagination,
      response: page(RatingSchema),
      handler: ({ params, query }) => marketplace.listRatings(params.slug, query),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/marketplace/apps/:slug/review',
      summary: "The account's review of an app",
      tag: 'Marketplace',
      access: { kind: 'org', orgKinds: ['account'] },
      params: OrgParams.extend({ slug: Slug }),
      response: OwnRatingSchema,
      handler: ({ org, params }) => marketplace.getOwnRating(org, params.slug),
    }),
    defineRoute({
      method: 'put',
      path: '/v1/organizations/:orgId/marketplace/apps/:slug/review',
      summary: 'Rate and review an installed app (create or edit)',
      tag: 'Marketplace',
      access: { kind: 'org', orgKinds: ['account'] },
      params: OrgParams.extend({ slug: Slug }),
      body: z.object({
        rating: z.number().int({ message: 'must be a whole number of stars' }).min(1).max(5),
        body: z.string().trim().max(5000).default(''),
      }),
      response: OwnRatingSchema,
      handler: async ({ org, params, body }) => (await marketplace.putRating(org, params.slug, body)).rating,
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/marketplace/apps/:slug/reviews/:reviewId/reply',
      summary: 'Reply to a review of your app (once)',
      tag: 'Marketplace',
      access: { kind: 'org', orgKinds: ['developer'] },
      status: 201,
      params: OrgParams.extend({ slug: Slug, reviewId: z.string().max(64) }),
      body: z.object({ body: z.string().trim().min(1, { message: 'must not be empty' }).max(5000) }),
      response: RatingSchema,
      handler: ({ org, params, body }) => marketplace.reply(org, params.slug, params.reviewId, body.body),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/admin/marketplace/reviews',
      summary: 'Reviews for moderation',
      tag: 'Operators',
      access: { kind: 'platform', roles: ['admin'] },
      query: Pagination.extend({
        hidden: z
          .enum(['true', 'false'])
          .optional()
          .transform((v) => (v === undefined ? undefined : v === 'true')),
        slug: Slug.optional(),
      }),
      response: page(ModeratedRatingSchema),
      handler: ({ query }) => marketplace.listRatingsForOperators(query),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/marketplace/reviews/:reviewId/hide',
      summary: 'Hide an abusive review',
      tag: 'Operators',
      access: { kind: 'platform', roles: ['admin'] },
      params: z.object({ reviewId: z.string().max(64) }),
      body: z.object({ reason: Reason }),
      response: ModeratedRatingSchema,
      handler: ({ actor, params, body }) => marketplace.hideRating(actor, params.reviewId, body.reason),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/marketplace/reviews/:reviewId/unhide',
      summary: 'Show a hidden review again',
      tag: 'Operators',
      access: { kind: 'platform', roles: ['admin'] },
      params: z.object({ reviewId: z.string().max(64) }),
      body: z.object({ reason: Reason }),
      response: ModeratedRatingSchema,
      handler: ({ actor, params, body }) => marketplace.unhideRating(actor, params.reviewId, body.reason),
    }),
  ];
}
