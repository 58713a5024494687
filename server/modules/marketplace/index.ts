import { defineModule } from '../module.ts';
import { createPriceQuotes, type PriceQuotes } from './pricing.ts';
import { marketplaceRoutes } from './routes.ts';
import { createMarketplaceService, type MarketplaceService as Listings } from './service.ts';

export type { MarketplacePricing, PriceQuote } from './pricing.ts';
export {
  CATEGORIES,
  Category,
  ListingDetailSchema,
  ListingSummarySchema,
  PRICING_TYPES,
  Pricing,
} from './schemas.ts';
export type {
  ListingDetail,
  ListingInput,
  ListingSummary,
  ModeratedRating,
  PricingType,
  Rating,
  RatingSummary,
  SearchInput,
  Sort,
} from './service.ts';
export { SORTS } from './service.ts';
/** The marketplace's service: listings, search, ratings, and price quotes (`marketplace.pricing`). */
export type MarketplaceService = Listings & PriceQuotes;

declare module '../module.ts' {
  interface ModuleServices {
    marketplace: MarketplaceService;
  }
}

/** The public marketplace: listings of published apps, search, install counts and customer ratings. */
export default defineModule({
  name: 'marketplace',
  requires: ['audit', 'events', 'installations'],
  tables: [
    'marketplace_listings',
    'marketplace_ratings',
    'marketplace_rating_days',
    'marketplace_search_misses',
  ],
  createService: ({ db, config, audit, events, scopes, installations, log, extensions }) =>
    Object.assign(
      createMarketplaceService({ db, baseUrl: config.baseUrl, audit, events, scopes, installations, log }),
      createPriceQuotes(extensions),
    ),
  routes: ({ marketplace }) => marketplaceRoutes({ marketplace }),
});
