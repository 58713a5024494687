/** The shapes the apps service answers with, and what it needs from the marketplace. */
import type { Tx } from '../../db/index.ts';
import type { ListingInput } from '../marketplace/index.ts';
import type { ImageType } from './images.ts';
import type { VersionFields } from './schemas.ts';
import type { VersionState } from './transitions.ts';

/** What the apps module needs from the marketplace (it owns the public listing). */
export interface MarketplacePort {
  publish(tx: Tx, listing: ListingInput): Promise<void>;
  withdraw(tx: Tx, appId: string): Promise<void>;
}

export type AppStatus = 'active' | 'suspended' | 'unpublished';
export type AssetKind = 'icon' | 'screenshot';

export interface App {
  id: string;
  organizationId: string;
  slug: string;
  name: string;
  clientId: string;
  status: AppStatus;
  statusReason: string | null;
  statusChangedAt: string | null;
  liveVersionId: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface VersionSummary {
  id: string;
  number: number;
  state: VersionState;
}

export interface AppDetail extends App {
  liveVersion: VersionSummary | null;
  openVersion: VersionSummary | null;
  clientSecrets: Array<{ id: string; prefix: string; createdAt: string; expiresAt: string | null }>;
}

export interface Asset {
  id: string;
  kind: AssetKind;
  /** Public, stable URL of the bytes. */
  url: string;
  contentType: ImageType;
  bytes: number;
  width: number | null;
  height: number | null;
  createdAt: string;
}

export type AppVersion = VersionFields & {
  id: string;
  appId: string;
  organizationId: string;
  number: number;
  state: VersionState;
  /** Can the developer change it now (draft or changes requested)? */
  editable: boolean;
  descriptionHtml: string;
  icon: Asset | null;
  screenshots: Asset[];
  reviewKind: 'full' | 'fast_track' | null;
  submittedAt: string | null;
  decidedAt: string | null;
  createdAt: string;
  updatedAt: string;
};

/** An app as platform admins list it (`apps.adminList`). */
export interface AdminAppRow {
  id: string;
  slug: string;
  name: string;
  developer: { organizationId: string; name: string };
  status: AppStatus;
  statusReason: string | null;
  statusChangedAt: string | null;
  liveVersion: VersionSummary | null;
  openVersion: VersionSummary | null;
  createdAt: string;
}

/** `%`, `_` and `\` in a search match themselves in an ILIKE pattern. */

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
