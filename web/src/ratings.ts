/**
 * Client for ratings and reviews (an account's own review, the developer's
 * reply) and for the operators' pages (review moderation, app suspension).
 * Same transport as api.ts (cookies, CSRF, problem+json).
 */
import { ApiError, type Page, request, seg, withQuery } from './api.ts';
import type { AdminApp, AppReview, components, OwnAppReview, RequestBodyOf } from './generated/openapi.ts';
import type { DevApp } from './registry.ts';

export type { AdminApp, OwnAppReview } from './generated/openapi.ts';

/** A review as operators see it (with the account and whether it is hidden). */
export type ModeratedReview = components['schemas']['ModeratedAppReview'];
export type ReviewInput = RequestBodyOf<'/v1/organizations/{orgId}/marketplace/apps/{slug}/review', 'put'>;
export type AppStatus = AdminApp['status'];

const reviewPath = (orgId: string, slug: string) =>
  `/v1/organizations/${seg(orgId)}/marketplace/apps/${seg(slug)}/review`;

export const ratingsApi = {
  /** The account's review of the app, or null when it has not written one. */
  async ownReview(orgId: string, slug: string): Promise<OwnAppReview | null> {
    try {
      return await request<OwnAppReview>('GET', reviewPath(orgId, slug));
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && err.detail.toLowerCase().includes('review'))
        return null;
      throw err;
    }
  },
  /** Creates or edits the account's one review (403 when the account has not installed the app). */
  putReview: (orgId: string, slug: string, input: ReviewInput) =>
    request<OwnAppReview>('PUT', reviewPath(orgId, slug), input),
  /** The developer organization answers a review, once. */
  reply: (orgId: string, slug: string, reviewId: string, body: string) =>
    request<AppReview>(
      'POST',
      `/v1/organizations/${seg(orgId)}/marketplace/apps/${seg(slug)}/reviews/${seg(reviewId)}/reply`,
      { body },
    ),
};

export const operationsApi = {
  reviews: (opts: {
    hidden?: 'true' | 'false' | '';
    slug?: string;
    cursor?: string | null;
    limit?: number;
  }) => request<Page<ModeratedReview>>('GET', withQuery('/v1/admin/marketplace/reviews', opts)),
  hideReview: (reviewId: string, reason: string) =>
    request<ModeratedReview>('POST', `/v1/admin/marketplace/reviews/${seg(reviewId)}/hide`, { reason }),
  unhideReview: (reviewId: string, reason: string) =>
    request<ModeratedReview>('POST', `/v1/admin/marketplace/reviews/${seg(reviewId)}/unhide`, { reason }),
  suspendApp: (appId: string, reason: string) =>
    request<DevApp>('POST', `/v1/admin/apps/${seg(appId)}/suspend`, { reason }),
  reinstateApp: (appId: string) => request<DevApp>('POST', `/v1/admin/apps/${seg(appId)}/reinstate`),
  /** Every app, newest first: by status, by words in its name or address. */
  apps: (opts: { status?: AppStatus | ''; q?: string; cursor?: string | null; limit?: number }) =>
    request<Page<AdminApp>>('GET', withQuery('/v1/admin/apps', opts)),
};
