import { z } from 'zod';
import { defineRoute, Pagination, page } from '../../http/route.ts';
import {
  Category,
  ListingDetailSchema,
  ListingSummarySchema,
  ModeratedRatingSchema,
  OwnRatingSchema,
  PRICING_TYPES,
  RatingSchema,
} from './schemas.ts';
import { type MarketplaceService, SORTS } from './service.ts';

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
      response: page(ListingSummarySchema),
      handler: ({ query }) => marketplace.search(query),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/marketplace/apps/:slug',
      summary: 'An app page',
      tag: 'Marketplace',
      access: { kind: 'public' },
      params: z.object({ slug: Slug }),
      response: ListingDetailSchema,
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
