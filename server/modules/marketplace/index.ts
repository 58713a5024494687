import { defineModule } from '../module.ts';
import { marketplaceRoutes } from './routes.ts';
import { createMarketplaceService, type MarketplaceService } from './service.ts';

export { CATEGORIES, Category, PRICING_TYPES, Pricing } from './schemas.ts';
export type {
  ListingDetail,
  ListingInput,
  ListingSummary,
  ModeratedRating,
  MarketplaceService,
  PricingType,
  Rating,
  RatingSummary,
  SearchInput,
  Sort,
} from './service.ts';
export { SORTS } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    marketplace: MarketplaceService;
  }
}

/** The public marketplace: listings of published apps, search, install counts and customer ratings. */
export default defineModule({
  name: 'marketplace',
  requires: ['audit', 'events', 'installations'],
  tables: ['marketplace_listings', 'marketplace_ratings'],
  createService: ({ db, config, audit, events, scopes, installations, log }) =>
    createMarketplaceService({ db, baseUrl: config.baseUrl, audit, events, scopes, installations, log }),
  routes: ({ marketplace }) => marketplaceRoutes({ marketplace }),
});
