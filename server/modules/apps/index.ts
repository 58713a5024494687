import { defineModule } from '../module.ts';
import { APP_EVENT_TYPES } from './catalog.ts';
import { appRoutes } from './routes.ts';
import { type AppsService, createAppsService } from './service.ts';

export { LISTING_TEXT_FIELDS, type ListingTextField, type VersionContent, type VersionDiff } from './diff.ts';
// Image checks by bytes, for other uploads judged the way app icons are (brand logos).
export {
  FORMAT_NAMES,
  IMAGE_EXTENSIONS,
  IMAGE_TYPES,
  type ImageType,
  readImage,
  sniffImageType,
} from './images.ts';
export {
  AdminAppSchema,
  AppManifest,
  AppSchema,
  AppVersionSchema,
  ListingFields,
  ReviewKind,
  VersionDiffSchema,
  VersionFields,
  VersionParams,
  VersionState,
} from './schemas.ts';
export type {
  AdminAppRow,
  App,
  AppDetail,
  AppStatus,
  AppsService,
  AppVersion,
  Asset,
  AssetKind,
  MarketplacePort,
  OAuthClientApp,
  OAuthClientVersion,
  VersionPatch,
  VersionSummary,
} from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    apps: AppsService;
  }
}

/** The developer app registry: apps, versions with their manifests, assets and client secrets. */
export default defineModule({
  name: 'apps',
  requires: ['audit', 'events', 'organizations', 'marketplace'],
  tables: ['apps', 'app_versions', 'app_client_secrets', 'app_assets'],
  eventTypes: APP_EVENT_TYPES,
  createService: ({ db, config, audit, events, scopes, storage, organizations, marketplace }) =>
    createAppsService({ db, config, audit, events, scopes, storage, organizations, marketplace }),
  routes: ({ apps, organizations, scopes }) => appRoutes({ apps, organizations, scopes }),
});
