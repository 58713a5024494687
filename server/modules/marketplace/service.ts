import type { z } from 'zod';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { conflict, forbidden, notFound } from '../../errors.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId } from '../../ids.ts';
import { renderMarkdown } from '../../lib/markdown.ts';
import { installLinkFor } from '../../lib/urls.ts';
import type { Logger } from '../../logger.ts';
import type { ScopeCatalog } from '../../scopes.ts';
import type { Actor, OrgContext } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import type { InstallationsService } from '../installations/index.ts';
import type {
  ListingDetailSchema,
  ListingSummarySchema,
  ModeratedRatingSchema,
  Pricing,
  RatingSchema,
  RatingSummarySchema,
} from './schemas.ts';
import { type SearchInput, searchQuery } from './search.ts';

export type { PricingType, SearchInput, Sort } from './search.ts';
export { SORTS } from './search.ts';

/** What the apps service hands over when a version goes live. */
export type ListingInput = {
  appId: string;
  slug: string;
  name: string;
  tagline: string;
  /** Markdown source. */
  description: string;
  category: string;
  pricing: Pricing;
  scopes: Array<{ name: string; consentText: string; optional: boolean }>;
  developer: { organizationId: string; name: string };
  iconUrl: string | null;
  screenshotUrls: string[];
  supportUrl: string | null;
  privacyUrl: string | null;
  termsUrl: string | null;
  /** The app's page that starts installing it (null or absent: none, no Install button). */
  installUrl?: string | null;
  versionId: string;
  versionNumber: number;
  /** When the version went live (ISO timestamp). */
  publishedAt: string;
};

export type RatingSummary = z.output<typeof RatingSummarySchema>;
/** One search result. */
export type ListingSummary = z.output<typeof ListingSummarySchema>;
/** The app page. */
export type ListingDetail = z.output<typeof ListingDetailSchema>;
export type Rating = z.output<typeof RatingSchema>;
/** What operators see of a rating. */
export type ModeratedRating = z.output<typeof ModeratedRatingSchema>;

const SUMMARY_COLUMNS = `l.app_id, l.slug, l.name, l.tagline, l.category, l.pricing, l.icon_url, l.developer_name,
  l.rating_average, l.rating_count, l.install_count, l.published_at, l.listed_at`;

const toSummary = (r: any): ListingSummary => ({
  appId: r.app_id,
  slug: r.slug,
  name: r.name,
  tagline: r.tagline,
  category: r.category,
  pricing: r.pricing,
  iconUrl: r.icon_url,
  developer: { name: r.developer_name },
  rating: { average: r.rating_count > 0 ? Number(r.rating_average) : null, count: r.rating_count },
  installCount: r.install_count,
  publishedAt: r.published_at.toISOString(),
  listedAt: r.listed_at.toISOString(),
});

const toRating = (r: any): Rating => ({
  id: r.id,
  rating: r.rating,
  body: r.body,
  account: { name: r.account_name },
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  reply: r.replied_at ? { body: r.reply_body, createdAt: r.replied_at.toISOString() } : null,
});

const toModerated = (r: any): ModeratedRating => ({
  ...toRating(r),
  app: { id: r.app_id, slug: r.slug, name: r.name },
  accountId: r.account_id,
  hidden: r.hidden_at ? { at: r.hidden_at.toISOString(), reason: r.hidden_reason } : null,
});

export const INSTALL_COUNT_SUBSCRIBER = 'marketplace.install-count';

export type MarketplaceService = ReturnType<typeof createMarketplaceService>;

export function createMarketplaceService(deps: {
  db: Db;
  /** This Plaza's public URL (PLAZA_PUBLIC_URL), handed to apps as `plaza_url` by the Install button. */
  baseUrl: string;
  audit: AuditService;
  events: EventsService;
  scopes: ScopeCatalog;
  installations: InstallationsService;
  log?: Logger;
}) {
  const { db, audit, events, scopes, installations } = deps;

  /** A listed (published, not withdrawn) app by slug, or 404. */
  async function listedBySlug(q: Queryable, slug: string, lock = false) {
    const row = await q.maybeOne(
      `SELECT * FROM marketplace_listings WHERE slug = $1 AND withdrawn_at IS NULL${lock ? ' FOR UPDATE' : ''}`,
      [slug],
    );
    if (!row) throw notFound('app');
    return row;
  }

  /** Sets the listing's rating count and sum from its visible ratings (listing row locked by the caller). */
  async function refreshRating(tx: Tx, appId: string) {
    await tx.query(
      `UPDATE marketplace_listings l SET rating_count = s.n, rating_sum = s.total
       FROM (SELECT count(*)::int AS n, coalesce(sum(rating), 0)::int AS total
             FROM marketplace_ratings WHERE app_id = $1 AND hidden_at IS NULL) s
       WHERE l.app_id = $1`,
      [appId],
    );
  }

  /** Sets install_count from the installations service. Idempotent, so at-least-once delivery is fine. */
  async function recountInstalls(appId: string): Promise<void> {
    await db.transaction(async (tx) => {
      // The row lock orders concurrent recounts: the last one to run counts after every commit before it.
      const row = await tx.maybeOne(
        'SELECT install_count FROM marketplace_listings WHERE app_id = $1 FOR UPDATE',
        [appId],
      );
      if (!row) return; // not listed (yet): publish counts when it is
      const n = await installations.countActive(appId, tx);
      if (n !== row.install_count)
        await tx.query('UPDATE marketplace_listings SET install_count = $2 WHERE app_id = $1', [appId, n]);
    });
  }

  events.subscribe({
    name: INSTALL_COUNT_SUBSCRIBER,
    types: ['app.installed', 'app.uninstalled'],
    handler: async (event) => recountInstalls(String(event.payload.appId)),
  });

  async function ratingOfApp(q: Queryable, appId: string, ratingId: string, lock = false) {
    const row = await q.maybeOne(
      `SELECT * FROM marketplace_ratings WHERE id = $1 AND app_id = $2${lock ? ' FOR UPDATE' : ''}`,
      [ratingId, appId],
    );
    if (!row) throw notFound('review');
    return row;
  }

  async function setHidden(
    actor: Actor,
    ratingId: string,
    hide: boolean,
    reason: string,
  ): Promise<ModeratedRating> {
    return db.transaction(async (tx) => {
      const found = await tx.maybeOne('SELECT app_id FROM marketplace_ratings WHERE id = $1', [ratingId]);
      if (!found) throw notFound('review');
      // Listing first, then rating: the same lock order as writing a rating.
      await tx.query('SELECT 1 FROM marketplace_listings WHERE app_id = $1 FOR UPDATE', [found.app_id]);
      const row = await tx.one('SELECT * FROM marketplace_ratings WHERE id = $1 FOR UPDATE', [ratingId]);
      if (hide && row.hidden_at) throw conflict('this review is already hidden');
      if (!hide && !row.hidden_at) throw conflict('this review is not hidden');
      await tx.query(
        hide
          ? 'UPDATE marketplace_ratings SET hidden_at = now(), hidden_reason = $2, hidden_by = $3 WHERE id = $1'
          : 'UPDATE marketplace_ratings SET hidden_at = NULL, hidden_reason = NULL, hidden_by = NULL WHERE id = $1',
        hide ? [ratingId, reason, actor.userId] : [ratingId],
      );
      await refreshRating(tx, row.app_id);
      await audit.record(tx, {
        organizationId: null,
        actor,
        action: hide ? 'marketplace.review.hidden' : 'marketplace.review.unhidden',
        targetType: 'marketplace_review',
        targetId: ratingId,
        data: { appId: row.app_id, accountId: row.account_id, reason },
      });
      return toModerated(
        await tx.one(
          `SELECT r.*, l.slug, l.name FROM marketplace_ratings r JOIN marketplace_listings l ON l.app_id = r.app_id
           WHERE r.id = $1`,
          [ratingId],
        ),
      );
    });
  }

  return {
    // Listings (called by the apps service) ------------------------------------

    /**
     * Creates or replaces the app's public listing with its live version and
     * lists it again if it was withdrawn. Runs in the caller's transaction,
     * so the listing changes exactly when the version goes live.
     */
    async publish(tx: Tx, listing: ListingInput): Promise<void> {
      const installCount = await installations.countActive(listing.appId, tx);
      await tx.query(
        `INSERT INTO marketplace_listings (app_id, slug, name, tagline, description, category, pricing, pricing_type,
           scopes, developer_org_id, developer_name, icon_url, screenshot_urls, support_url, privacy_url, terms_url,
           version_id, version_number, published_at, listed_at, install_count, install_url)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$19,$20,$21)
         ON CONFLICT (app_id) DO UPDATE SET slug = EXCLUDED.slug, name = EXCLUDED.name, tagline = EXCLUDED.tagline,
           description = EXCLUDED.description, category = EXCLUDED.category, pricing = EXCLUDED.pricing,
           pricing_type = EXCLUDED.pricing_type, scopes = EXCLUDED.scopes,
           developer_org_id = EXCLUDED.developer_org_id, developer_name = EXCLUDED.developer_name,
           icon_url = EXCLUDED.icon_url, screenshot_urls = EXCLUDED.screenshot_urls,
           support_url = EXCLUDED.support_url, privacy_url = EXCLUDED.privacy_url, terms_url = EXCLUDED.terms_url,
           install_url = EXCLUDED.install_url,
           version_id = EXCLUDED.version_id, version_number = EXCLUDED.version_number,
           published_at = EXCLUDED.published_at, install_count = EXCLUDED.install_count,
           withdrawn_at = NULL, updated_at = now()`,
        [
          listing.appId,
          listing.slug,
          listing.name,
          listing.tagline,
          listing.description,
          listing.category,
          JSON.stringify(listing.pricing),
          listing.pricing.type,
          JSON.stringify(listing.scopes),
          listing.developer.organizationId,
          listing.developer.name,
          listing.iconUrl,
          listing.screenshotUrls,
          listing.supportUrl,
          listing.privacyUrl,
          listing.termsUrl,
          listing.versionId,
          listing.versionNumber,
          listing.publishedAt,
          installCount,
          listing.installUrl ?? null,
        ],
      );
    },

    /** Hides the app from the marketplace (search, app page, ratings); publish lists it again. */
    async withdraw(tx: Tx, appId: string): Promise<void> {
      await tx.query(
        'UPDATE marketplace_listings SET withdrawn_at = now(), updated_at = now() WHERE app_id = $1 AND withdrawn_at IS NULL',
        [appId],
      );
    },

    recountInstalls,

    // Browsing (public) ----------------------------------------------------------

    /** Full-text search with filters, four sort orders and keyset pagination. */
    async search(input: SearchInput): Promise<Page<ListingSummary>> {
      const { sql, params, cursorOf } = searchQuery(input, SUMMARY_COLUMNS);
      const rows = await db.query(sql, params);
      // What people look for and do not find (operator dashboard): first pages with words only.
      const words = input.q?.trim().toLowerCase().replace(/\s+/g, ' ').slice(0, 100);
      if (rows.length === 0 && words && !input.cursor)
        await db.query(
          `INSERT INTO marketplace_search_misses AS m (day, query, count) VALUES ((now() AT TIME ZONE 'UTC')::date, $1, 1)
           ON CONFLICT (day, query) DO UPDATE SET count = m.count + 1`,
          [words],
        );
      const more = rows.length > input.limit;
      const pageRows = more ? rows.slice(0, input.limit) : rows;
      return {
        data: pageRows.map(toSummary),
        nextCursor: more ? cursorOf(pageRows[pageRows.length - 1]) : null,
      };
    },

    /** The app page: the live version's listing. 404 for unknown or withdrawn apps. */
    async getBySlug(slug: string): Promise<ListingDetail> {
      const r = await listedBySlug(db, slug);
      const listingScopes = r.scopes as ListingInput['scopes'];
      return {
        ...toSummary(r),
        descriptionHtml: renderMarkdown(r.description),
        // The catalog's words where the scope is (still) registered, else those recorded at publication.
        scopes: listingScopes.map((s) => ({
          name: s.name,
          description: scopes.get(s.name)?.consentText ?? s.consentText,
          optional: s.optional,
        })),
        screenshotUrls: r.screenshot_urls,
        supportUrl: r.support_url,
        privacyUrl: r.privacy_url,
        termsUrl: r.terms_url,
        installUrl: r.install_url ? installLinkFor(r.install_url, deps.baseUrl) : null,
        version: { id: r.version_id, number: r.version_number },
      };
    },

    // Dashboards --------------------------------------------------------

    /** Ratings given (or edited) per app and day in [from, to] (YYYY-MM-DD), with their stars. */
    async ratingDays(appIds: string[], from: string, to: string) {
      const rows = await db.query(
        `SELECT app_id, to_char(day, 'YYYY-MM-DD') AS day, ratings, stars FROM marketplace_rating_days
         WHERE app_id = ANY($1) AND day BETWEEN $2 AND $3 ORDER BY day`,
        [appIds, from, to],
      );
      return rows.map((r) => ({
        appId: r.app_id as string,
        day: r.day as string,
        ratings: r.ratings as number,
        stars: r.stars as number,
      }));
    },

    /** The searches that found nothing most often in [from, to], with how often. */
    async searchMisses(from: string, to: string, limit = 20) {
      return db.query<{ query: string; count: number }>(
        `SELECT query, sum(count)::int AS count FROM marketplace_search_misses
         WHERE day BETWEEN $1 AND $2 GROUP BY query ORDER BY count DESC, query LIMIT $3`,
        [from, to, limit],
      );
    },

    // Ratings --------------------------------------------------------

    /** Visible ratings of a listed app, newest first. */
    async listRatings(slug: string, page: { limit: number; cursor?: string }): Promise<Page<Rating>> {
      const listing = await listedBySlug(db, slug);
      const after = decodeCursor(page.cursor);
      const rows = await db.query(
        `SELECT * FROM marketplace_ratings WHERE app_id = $1 AND hidden_at IS NULL
           AND ($2::text IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`,
        [listing.app_id, after ? String(after[0]) : null, page.limit + 1],
      );
      return toPage(rows, page.limit, (r) => [r.id], toRating);
    },

    /** The account's own rating of the app (hidden or not), or 404. */
    async getOwnRating(ctx: OrgContext, slug: string): Promise<Rating & { hidden: boolean }> {
      const listing = await listedBySlug(db, slug);
      const row = await db.maybeOne(
        'SELECT * FROM marketplace_ratings WHERE app_id = $1 AND account_id = $2',
        [listing.app_id, ctx.org.id],
      );
      if (!row) throw notFound('review');
      return { ...toRating(row), hidden: Boolean(row.hidden_at) };
    },

    /**
     * Creates or edits the account's one rating of the app. Only accounts with
     * the app installed may; the listing's average and count change in the
     * same transaction. An edited hidden rating stays hidden.
     */
    async putRating(
      ctx: OrgContext,
      slug: string,
      input: { rating: number; body: string },
    ): Promise<{ rating: Rating & { hidden: boolean }; created: boolean }> {
      if (ctx.org.kind !== 'account') throw forbidden('only accounts review apps');
      const listing = await listedBySlug(db, slug);
      if (!(await installations.isActive(ctx.org.id, listing.app_id)))
        throw forbidden(
          `${ctx.org.name} has not installed ${listing.name}: only accounts with the app installed can review it`,
        );
      return db.transaction(async (tx) => {
        await listedBySlug(tx, slug, true);
        const row = await tx.one(
          `INSERT INTO marketplace_ratings (id, app_id, account_id, account_name, author_user_id, rating, body)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (app_id, account_id) DO UPDATE SET rating = EXCLUDED.rating, body = EXCLUDED.body,
             account_name = EXCLUDED.account_name, author_user_id = EXCLUDED.author_user_id, updated_at = now()
           RETURNING *, (xmax = 0) AS inserted`,
          [
            newId('rvw'),
            listing.app_id,
            ctx.org.id,
            ctx.org.name,
            ctx.actor.userId,
            input.rating,
            input.body,
          ],
        );
        await refreshRating(tx, listing.app_id);
        // Ratings over time (developer dashboard): an edit counts as a rating given that day.
        await tx.query(
          `INSERT INTO marketplace_rating_days AS d (app_id, day, ratings, stars)
           VALUES ($1, (now() AT TIME ZONE 'UTC')::date, 1, $2)
           ON CONFLICT (app_id, day) DO UPDATE SET ratings = d.ratings + 1, stars = d.stars + EXCLUDED.stars`,
          [listing.app_id, input.rating],
        );
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: row.inserted ? 'marketplace.review.created' : 'marketplace.review.edited',
          targetType: 'marketplace_review',
          targetId: row.id,
          data: { appId: listing.app_id, rating: input.rating },
        });
        return {
          rating: { ...toRating(row), hidden: Boolean(row.hidden_at) },
          created: Boolean(row.inserted),
        };
      });
    },

    /** The app's developer answers a rating, once. */
    async reply(ctx: OrgContext, slug: string, ratingId: string, body: string): Promise<Rating> {
      const listing = await listedBySlug(db, slug);
      if (listing.developer_org_id !== ctx.org.id)
        throw forbidden("only the app's developer organization can reply to its reviews");
      return db.transaction(async (tx) => {
        const row = await ratingOfApp(tx, listing.app_id, ratingId, true);
        if (row.replied_at) throw conflict('this review already has a reply; a review gets one reply');
        const updated = await tx.one(
          `UPDATE marketplace_ratings SET reply_body = $2, reply_user_id = $3, replied_at = now()
           WHERE id = $1 RETURNING *`,
          [ratingId, body, ctx.actor.userId],
        );
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'marketplace.review.replied',
          targetType: 'marketplace_review',
          targetId: ratingId,
          data: { appId: listing.app_id },
        });
        return toRating(updated);
      });
    },

    /** Operators: takes an abusive rating off the app page and out of the average (audited). */
    hideRating: (actor: Actor, ratingId: string, reason: string) => setHidden(actor, ratingId, true, reason),
    /** Operators: puts a hidden rating back (audited). */
    unhideRating: (actor: Actor, ratingId: string, reason: string) =>
      setHidden(actor, ratingId, false, reason),

    /** Operators: ratings across the marketplace, newest first; `hidden` filters by state. */
    async listRatingsForOperators(opts: {
      limit: number;
      cursor?: string;
      hidden?: boolean;
      slug?: string;
    }): Promise<Page<ModeratedRating>> {
      const after = decodeCursor(opts.cursor);
      const rows = await db.query(
        `SELECT r.*, l.slug, l.name FROM marketplace_ratings r JOIN marketplace_listings l ON l.app_id = r.app_id
         WHERE ($1::boolean IS NULL OR (r.hidden_at IS NOT NULL) = $1) AND ($2::text IS NULL OR l.slug = $2)
           AND ($3::text IS NULL OR r.id < $3)
         ORDER BY r.id DESC LIMIT $4`,
        [opts.hidden ?? null, opts.slug ?? null, after ? String(after[0]) : null, opts.limit + 1],
      );
      return toPage(rows, opts.limit, (r) => [r.id], toModerated);
    },
  };
}
