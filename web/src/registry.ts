/**
 * Client for the app registry: marketplace, developer console, review queue,
 * notifications. Same transport as api.ts (cookies, CSRF, problem+json).
 */
import { collect, type Page, request, seg, withQuery } from './api.ts';
import type { PricingInfo } from './format.ts';

// Marketplace ------------------------------------------------------------------

export interface RatingSummary {
  average: number | null;
  count: number;
}

export interface MarketplaceApp {
  appId: string;
  slug: string;
  name: string;
  tagline: string;
  category: string;
  pricing: PricingInfo;
  iconUrl: string | null;
  developer: { name: string };
  rating: RatingSummary;
  installCount: number;
  publishedAt: string;
  listedAt: string;
}

export interface MarketplaceAppPage extends MarketplaceApp {
  /** Rendered by the server from Markdown, sanitised (no raw HTML, http(s) links only). */
  descriptionHtml: string;
  scopes: { name: string; description: string; optional: boolean }[];
  screenshotUrls: string[];
  supportUrl: string | null;
  privacyUrl: string | null;
  termsUrl: string | null;
  /** The app's install link with plaza_url added (where Install goes); null: the app has none. */
  installUrl: string | null;
  version: { id: string; number: number };
}

export interface AppReview {
  id: string;
  rating: number;
  body: string;
  account: { name: string };
  createdAt: string;
  updatedAt: string;
  reply: { body: string; createdAt: string } | null;
}

export type MarketplaceSort = 'relevance' | 'popular' | 'newest' | 'rating';

export interface MarketplaceQuery {
  q?: string;
  category?: string;
  pricing?: string;
  sort?: MarketplaceSort | '';
  cursor?: string | null;
  limit?: number;
}

// Developer console ------------------------------------------------------------

export type VersionState =
  | 'draft'
  | 'checking'
  | 'queued'
  | 'in_review'
  | 'changes_requested'
  | 'live'
  | 'retired';

export interface VersionSummary {
  id: string;
  number: number;
  state: VersionState;
}

export interface DevApp {
  id: string;
  organizationId: string;
  slug: string;
  name: string;
  clientId: string;
  status: 'active' | 'suspended' | 'unpublished';
  statusReason: string | null;
  statusChangedAt: string | null;
  liveVersionId: string | null;
  createdAt: string;
  updatedAt: string;
  liveVersion: VersionSummary | null;
  openVersion: VersionSummary | null;
  clientSecrets: { id: string; prefix: string; createdAt: string; expiresAt: string | null }[];
}

export interface Asset {
  id: string;
  kind: 'icon' | 'screenshot';
  url: string;
  contentType: string;
  bytes: number;
  width: number | null;
  height: number | null;
  createdAt: string;
}

export interface ScopeRequest {
  name: string;
  justification: string;
  optional: boolean;
}

export interface ListingFields {
  name: string;
  tagline: string;
  description: string;
  category: string;
  supportUrl: string | null;
  privacyUrl: string | null;
  termsUrl: string | null;
}

export interface VersionFields extends ListingFields {
  redirectUris: string[];
  /** The app's page that starts installing it (the marketplace's Install button goes there). */
  installUrl: string | null;
  scopes: ScopeRequest[];
  webhookEvents: string[];
  pricing: PricingInfo;
}

export interface AppVersion extends VersionFields {
  id: string;
  appId: string;
  organizationId: string;
  number: number;
  state: VersionState;
  editable: boolean;
  descriptionHtml: string;
  icon: Asset | null;
  screenshots: Asset[];
  reviewKind: 'full' | 'fast_track' | null;
  submittedAt: string | null;
  decidedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export type VersionPatch = Partial<VersionFields> & {
  iconAssetId?: string | null;
  screenshotAssetIds?: string[];
};

export interface AppManifest {
  $schema?: string;
  manifestVersion: 1;
  slug: string;
  version: VersionFields;
  assets?: { iconAssetId: string | null; screenshotAssetIds: string[] };
}

export interface VersionDiff {
  firstVersion: boolean;
  scopes: {
    added: ScopeRequest[];
    removed: ScopeRequest[];
    changed: {
      name: string;
      before: { justification: string; optional: boolean };
      after: { justification: string; optional: boolean };
    }[];
  };
  redirectUris: { added: string[]; removed: string[] };
  installUrl: { before: string | null; after: string | null } | null;
  webhookEvents: { added: string[]; removed: string[] };
  pricing: { changed: boolean; before: PricingInfo | null; after: PricingInfo };
  listing: { field: string; before: string | null; after: string | null }[];
  assets: {
    icon: { before: string | null; after: string | null } | null;
    screenshots: { before: string[]; after: string[] } | null;
  };
  unchanged: boolean;
  reviewKind: 'full' | 'fast_track';
  reviewReasons: string[];
  version: VersionSummary;
  against: VersionSummary | null;
}

export interface CheckResult {
  check: string;
  title: string;
  passed: boolean;
  reason: string;
}

export interface ScopeInfo {
  name: string;
  consentText: string;
  sensitivity: 'basic' | 'personal' | 'financial';
}

export interface EventTypeInfo {
  type: string;
  scope: string | null;
  description?: string;
}

export interface TestAccount {
  id: string;
  name: string;
  kind: string;
  parentId: string | null;
  createdAt: string;
}

// Review -------------------------------------------------------------------------

export type SubmissionStatus =
  | 'checking'
  | 'checks_failed'
  | 'withdrawn'
  | 'queued'
  | 'in_review'
  | 'approved'
  | 'changes_requested';

export interface ReviewNote {
  field: string;
  note: string;
}

export interface VersionStatus {
  versionId: string;
  appId: string;
  number: number;
  state: VersionState;
  reviewKind: 'full' | 'fast_track' | null;
  reviewReasons: string[];
  submittedAt: string | null;
  submission: { id: string; status: SubmissionStatus } | null;
  checks: CheckResult[];
  checksCompletedAt: string | null;
  queuePosition: number | null;
  queueLength: number;
  target: { businessDays: number; dueAt: string | null };
  medianReviewSeconds: number | null;
  reviewsDecidedLast30Days: number;
  decision: {
    outcome: 'approved' | 'changes_requested';
    decidedAt: string;
    notes: ReviewNote[];
    comment: string | null;
  } | null;
}

export interface Submission {
  id: string;
  appId: string;
  versionId: string;
  organizationId: string;
  status: SubmissionStatus;
  reviewKind: 'full' | 'fast_track';
  reviewReasons: string[];
  submittedAt: string;
  checks: CheckResult[];
  checksCompletedAt: string | null;
  claimedBy: { userId: string; email: string | null } | null;
  claimedAt: string | null;
  decision: 'approved' | 'changes_requested' | null;
  decidedAt: string | null;
  checklist: Record<string, boolean> | null;
  notes: ReviewNote[];
  comment: string | null;
}

export interface ReviewDetail {
  submission: Submission & { queuePosition: number | null };
  app: Omit<DevApp, 'liveVersion' | 'openVersion' | 'clientSecrets'>;
  developer: { organizationId: string; name: string };
  version: AppVersion;
  diff: VersionDiff;
  checklist: { key: string; label: string }[];
  noteFields: string[];
  history: Submission[];
}

export interface QueueItem {
  position: number;
  versionId: string;
  versionNumber: number;
  appId: string;
  appName: string;
  slug: string;
  developer: { organizationId: string; name: string };
  state: 'queued' | 'in_review';
  reviewKind: 'full' | 'fast_track';
  reviewReasons: string[];
  addsScopes: boolean;
  flag: string;
  submittedAt: string;
  ageSeconds: number;
  claimedBy: { userId: string; email: string | null } | null;
  claimedAt: string | null;
}

// Notifications ----------------------------------------------------------------

export interface Notification {
  id: string;
  organizationId: string | null;
  kind: string;
  title: string;
  body: string;
  link: string | null;
  data: Record<string, unknown>;
  createdAt: string;
  readAt: string | null;
}

const appPath = (orgId: string, appId: string) => `/v1/organizations/${seg(orgId)}/apps/${seg(appId)}`;
const versionPath = (orgId: string, appId: string, versionId: string) =>
  `${appPath(orgId, appId)}/versions/${seg(versionId)}`;

export const registry = {
  // Developer console
  scopes: () => request<{ data: ScopeInfo[] }>('GET', '/v1/scopes').then((r) => r.data),
  apps: (orgId: string) => collect<DevApp>(`/v1/organizations/${seg(orgId)}/apps`),
  createApp: (orgId: string, body: ListingFields & { slug: string }) =>
    request<{ app: DevApp; version: AppVersion; clientSecret: string }>(
      'POST',
      `/v1/organizations/${seg(orgId)}/apps`,
      body,
    ),
  app: (orgId: string, appId: string) => request<DevApp>('GET', appPath(orgId, appId)),
  rotateClientSecret: (orgId: string, appId: string, overlapHours?: number) =>
    request<{ clientId: string; clientSecret: string; previousSecretsExpireAt: string | null; app: DevApp }>(
      'POST',
      `${appPath(orgId, appId)}/client-secrets`,
      overlapHours === undefined ? {} : { overlapHours },
    ),
  unpublishApp: (orgId: string, appId: string, reason?: string) =>
    request<DevApp>('POST', `${appPath(orgId, appId)}/unpublish`, reason ? { reason } : {}),
  republishApp: (orgId: string, appId: string) =>
    request<DevApp>('POST', `${appPath(orgId, appId)}/republish`),
  versions: (orgId: string, appId: string) => collect<AppVersion>(`${appPath(orgId, appId)}/versions`),
  createVersion: (orgId: string, appId: string) =>
    request<AppVersion>('POST', `${appPath(orgId, appId)}/versions`),
  version: (orgId: string, appId: string, versionId: string) =>
    request<AppVersion>('GET', versionPath(orgId, appId, versionId)),
  updateVersion: (orgId: string, appId: string, versionId: string, patch: VersionPatch) =>
    request<AppVersion>('PATCH', versionPath(orgId, appId, versionId), patch),
  uploadIcon: (orgId: string, appId: string, versionId: string, file: Blob) =>
    request<AppVersion>('PUT', `${versionPath(orgId, appId, versionId)}/icon`, {
      raw: file,
      contentType: file.type || 'application/octet-stream',
    }),
  uploadScreenshot: (orgId: string, appId: string, versionId: string, file: Blob) =>
    request<AppVersion>('POST', `${versionPath(orgId, appId, versionId)}/screenshots`, {
      raw: file,
      contentType: file.type || 'application/octet-stream',
    }),
  manifest: (orgId: string, appId: string, versionId: string) =>
    request<AppManifest>('GET', `${versionPath(orgId, appId, versionId)}/manifest`),
  importManifest: (orgId: string, appId: string, versionId: string, manifest: unknown) =>
    request<AppVersion>('PUT', `${versionPath(orgId, appId, versionId)}/manifest`, manifest),
  diff: (orgId: string, appId: string, versionId: string) =>
    request<VersionDiff>('GET', `${versionPath(orgId, appId, versionId)}/diff`),
  testAccounts: (orgId: string) => collect<TestAccount>(`/v1/organizations/${seg(orgId)}/test-accounts`),
  createTestAccount: (orgId: string, name: string) =>
    request<TestAccount>('POST', `/v1/organizations/${seg(orgId)}/test-accounts`, { name }),

  submitVersion: (orgId: string, appId: string, versionId: string) =>
    request<VersionStatus>('POST', `${versionPath(orgId, appId, versionId)}/submit`),
  withdrawVersion: (orgId: string, appId: string, versionId: string) =>
    request<VersionStatus>('POST', `${versionPath(orgId, appId, versionId)}/withdraw`),
  versionStatus: (orgId: string, appId: string, versionId: string) =>
    request<VersionStatus>('GET', `${versionPath(orgId, appId, versionId)}/status`),

  // Reviewers
  reviewQueue: (opts: { cursor?: string | null; limit?: number } = {}) =>
    request<Page<QueueItem>>('GET', withQuery('/v1/review/queue', opts)),
  reviewDetail: (versionId: string) => request<ReviewDetail>('GET', `/v1/review/versions/${seg(versionId)}`),
  claimReview: (versionId: string) =>
    request<ReviewDetail>('POST', `/v1/review/versions/${seg(versionId)}/claim`),
  releaseReview: (versionId: string) =>
    request<ReviewDetail>('POST', `/v1/review/versions/${seg(versionId)}/release`),
  approveReview: (versionId: string, body: { checklist: Record<string, boolean>; comment?: string }) =>
    request<ReviewDetail>('POST', `/v1/review/versions/${seg(versionId)}/approve`, body),
  requestChanges: (
    versionId: string,
    body: { notes: ReviewNote[]; checklist?: Record<string, boolean>; comment?: string },
  ) => request<ReviewDetail>('POST', `/v1/review/versions/${seg(versionId)}/request-changes`, body),

  // Marketplace
  searchMarketplace: (query: MarketplaceQuery) =>
    request<Page<MarketplaceApp>>('GET', withQuery('/v1/marketplace/apps', { ...query })),
  marketplaceApp: (slug: string) => request<MarketplaceAppPage>('GET', `/v1/marketplace/apps/${seg(slug)}`),
  marketplaceReviews: (slug: string, opts: { cursor?: string | null; limit?: number } = {}) =>
    request<Page<AppReview>>('GET', withQuery(`/v1/marketplace/apps/${seg(slug)}/reviews`, opts)),

  notifications: (opts: { unread?: boolean; cursor?: string | null; limit?: number } = {}) =>
    request<Page<Notification> & { unreadCount: number }>(
      'GET',
      withQuery('/v1/notifications', { ...opts, unread: opts.unread ? 'true' : undefined }),
    ),
  markNotificationRead: (id: string) => request<Notification>('POST', `/v1/notifications/${seg(id)}/read`),
  markAllNotificationsRead: () => request<{ marked: number }>('POST', '/v1/notifications/read-all'),
};

export { collect };
