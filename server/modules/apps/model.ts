/** The shapes the apps service answers with, and what it needs from the marketplace. */

import type { z } from 'zod';
import type { Tx } from '../../db/index.ts';
import type { ListingInput } from '../marketplace/index.ts';
import type {
  AdminAppSchema,
  AppSchema,
  AppStatusSchema,
  AppVersionSchema,
  AssetSchema,
  VersionFields,
  VersionSummarySchema,
} from './schemas.ts';

/** What the apps module needs from the marketplace (it owns the public listing). */
export interface MarketplacePort {
  publish(tx: Tx, listing: ListingInput): Promise<void>;
  withdraw(tx: Tx, appId: string): Promise<void>;
}

// The API shapes are written once, as zod schemas (schemas.ts); the service answers with their output types.
export type AppStatus = z.output<typeof AppStatusSchema>;
export type AssetKind = Asset['kind'];
export type VersionSummary = z.output<typeof VersionSummarySchema>;
/** An app with its versions on the way and its client secrets, as its developers see it. */
export type AppDetail = z.output<typeof AppSchema>;
export type App = Omit<AppDetail, 'liveVersion' | 'openVersion' | 'clientSecrets'>;
/** An uploaded icon or screenshot; `url` is public and stable. */
export type Asset = z.output<typeof AssetSchema>;
export type AppVersion = z.output<typeof AppVersionSchema>;
/** An app as platform admins list it (`apps.adminList`). */
export type AdminAppRow = z.output<typeof AdminAppSchema>;

/** What the OAuth provider needs of one version of an app. */
export interface OAuthClientVersion {
  versionId: string;
  number: number;
  name: string;
  redirectUris: string[];
  scopes: VersionFields['scopes'];
}

/** An app as an OAuth client (`apps.oauthClient`). */
export interface OAuthClientApp {
  appId: string;
  organizationId: string;
  clientId: string;
  name: string;
  status: AppStatus;
  live: OAuthClientVersion | null;
  open: OAuthClientVersion | null;
}

export type VersionPatch = Partial<VersionFields> & {
  iconAssetId?: string | null;
  screenshotAssetIds?: string[];
};

/** Upload limits: bytes and pixels. */
export const ASSET_LIMITS = {
  icon: { maxBytes: 512 * 1024, minSide: 64, maxSide: 2048 },
  screenshot: { maxBytes: 2 * 1024 * 1024, minSide: 320, maxSide: 4096, perVersion: 8 },
} as const;
