/**
 * Client for the app registry: marketplace, developer console, review queue,
 * notifications. Same transport as api.ts (cookies, CSRF, problem+json).
 */
import { collect, type FormQuery, type Page, request, seg, withQuery } from './api.ts';
import type {
  AppManifest,
  AppReview,
  AppVersion,
  components,
  MarketplaceApp,
  MarketplaceAppPage,
  Notification,
  QueryOf,
  RequestBodyOf,
  ResponseOf,
  ReviewDetail,
  VersionDiff,
} from './generated/openapi.ts';

type Schemas = components['schemas'];

export type {
  AppManifest,
  AppReview,
  AppVersion,
  MarketplaceApp,
  MarketplaceAppPage,
  Notification,
  RatingSummary,
  ReviewDetail,
  ScopeRequest,
  VersionDiff,
} from './generated/openapi.ts';

// Marketplace
export type MarketplaceQuery = QueryOf<'/v1/marketplace/apps', 'get'>;
export type MarketplaceSort = NonNullable<MarketplaceQuery['sort']>;
export type Category = AppVersion['category'];
export type PricingType = Schemas['Pricing']['type'];

// Developer console
/** An app as its developer sees it. */
export type DevApp = Schemas['App'];
export type VersionState = AppVersion['state'];
export type VersionSummary = NonNullable<DevApp['liveVersion']>;
export type Asset = Schemas['AppAsset'];
export type VersionPatch = Schemas['AppVersionPatch'];
export type CheckResult = Schemas['ReviewCheckResult'];
/** A scope apps can ask for, with its consent text. */
export type ScopeInfo = ResponseOf<'/v1/scopes', 'get'>['data'][number];
export type EventTypeInfo = Schemas['WebhookEventType'];
/** A developer organization's test account (an account organization). */
export type TestAccount = Schemas['Organization'];

// Review
/** What the developer sees of a version in review. */
export type VersionStatus = Schemas['VersionReviewStatus'];
export type SubmissionStatus = NonNullable<VersionStatus['submission']>['status'];
export type Submission = ReviewDetail['history'][number];
export type ReviewNote = Submission['notes'][number];
export type QueueItem = Schemas['ReviewQueueItem'];

const appPath = (orgId: string, appId: string) => `/v1/organizations/${seg(orgId)}/apps/${seg(appId)}`;
const versionPath = (orgId: string, appId: string, versionId: string) =>
  `${appPath(orgId, appId)}/versions/${seg(versionId)}`;

export const registry = {
  // Developer console
  scopes: () => request<{ data: ScopeInfo[] }>('GET', '/v1/scopes').then((r) => r.data),
  apps: (orgId: string) => collect<DevApp>(`/v1/organizations/${seg(orgId)}/apps`),
  createApp: (orgId: string, body: RequestBodyOf<'/v1/organizations/{orgId}/apps', 'post'>) =>
    request<ResponseOf<'/v1/organizations/{orgId}/apps', 'post'>>(
      'POST',
      `/v1/organizations/${seg(orgId)}/apps`,
      body,
    ),
  app: (orgId: string, appId: string) => request<DevApp>('GET', appPath(orgId, appId)),
  rotateClientSecret: (orgId: string, appId: string, overlapHours?: number) =>
    request<ResponseOf<'/v1/organizations/{orgId}/apps/{appId}/client-secrets', 'post'>>(
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
  searchMarketplace: (query: FormQuery<MarketplaceQuery>) =>
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
