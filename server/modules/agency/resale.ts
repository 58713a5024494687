import type { Db, Queryable } from '../../db/index.ts';
import { forbidden, invalid, notFound, PlazaError } from '../../errors.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId } from '../../ids.ts';
import { hasRole, type OrgContext } from '../../tenancy.ts';
import type { AppsService } from '../apps/index.ts';
import type { AuditService } from '../audit/index.ts';
import type { InstallationGate } from '../installations/index.ts';
import type {
  ListingDetail,
  ListingSummary,
  MarketplacePricing,
  MarketplaceService,
  PriceQuote,
  Pricing,
  SearchInput,
} from '../marketplace/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';

/**
 * App resale: an agency sells paid apps to its sub-accounts at its own price,
 * a markup over the developer's (a percentage, or a fixed amount for one-time
 * and recurring prices), so never below it. The price is a quote of the
 * `marketplace.pricing` extension point: payments charges the sub-account that
 * price and gives the ledger the markup, which the ledger credits to the
 * agency. Sub-accounts only ever see the resulting price.
 *
 * Every change of a price is journaled (before and after) and can be rolled
 * back, which is itself a journaled change. The agency also decides which apps
 * its sub-accounts see (all, an allow-list or a block-list); a hidden app
 * cannot be installed in them either (`installation.gate`).
 */
export type Paid = Exclude<Pricing, { type: 'free' }>;
export type Markup = { type: 'percent' | 'fixed'; value: number };
export type CatalogMode = 'all' | 'allow' | 'block';

/** The largest price Plaza takes (the listing's own limit). */
const MAX_PRICE = 100_000_000;

const up = (amount: number, m: Markup) =>
  m.type === 'fixed' ? amount + m.value : amount + Math.ceil((amount * m.value) / 10_000);

/** The agency's price for a developer price and a markup; a percentage rounds up to whole minor units. */
export function resalePricing(dev: Paid, m: Markup): Paid {
  if (dev.type === 'usage') {
    if (m.type === 'fixed')
      throw invalid(
        'body.type',
        'usage prices take a percent markup (it applies to the unit price and the cap)',
      );
    return { ...dev, unitAmount: up(dev.unitAmount, m), cappedAmount: up(dev.cappedAmount, m) };
  }
  return { ...dev, amount: up(dev.amount, m) };
}

const money = (n: number, c: string) => `${(n / 100).toFixed(2)} ${c}`;
function label(p: Paid): string {
  switch (p.type) {
    case 'one_time':
      return `${money(p.amount, p.currency)} once`;
    case 'recurring':
      return `${p.trialDays ? `Free for ${p.trialDays} days, then ` : ''}${money(p.amount, p.currency)} / ${p.interval}`;
    default:
      return `${money(p.unitAmount, p.currency)} per ${p.unitName}, at most ${money(p.cappedAmount, p.currency)} a month`;
  }
}

/** An app as a sub-account's marketplace shows it: at the price the account pays. */
export type Offer = ListingSummary & {
  /** Sold by the account's agency at its own price. */
  resold: boolean;
};

export interface ResalePriceView {
  appId: string;
  appName: string;
  markup: Markup;
  /** What the developer asks (the agency's cost). */
  developerPricing: Paid;
  /** What the agency's sub-accounts pay. */
  resalePricing: Paid;
  updatedAt: string;
}

export interface PriceChangeView {
  id: string;
  appId: string;
  appName: string;
  before: Markup | null;
  after: Markup | null;
  rollbackOf: string | null;
  actorUserId: string | null;
  createdAt: string;
}

export interface ResaleDeps {
  db: Db;
  apps: AppsService;
  audit: AuditService;
  marketplace: MarketplaceService;
  organizations: OrganizationsService;
}

export function createResale(deps: ResaleDeps) {
  const { db, apps, audit, marketplace, organizations } = deps;

  function assertAgencyAdmin(org: OrgContext) {
    if (org.org.kind !== 'agency') throw forbidden('only agencies resell apps');
    if (!hasRole(org, 'admin')) throw forbidden('resale prices need the admin or owner role');
  }

  /** The developer's price of the app's live version, or 404 when it has none. */
  async function developerPricing(appId: string): Promise<{ name: string; pricing: Pricing }> {
    const info = (await apps.installedAppInfo([appId], [])).apps.get(appId);
    if (!info?.live) throw notFound('app');
    const { content } = await apps.versionForReview(db, info.live.versionId);
    return { name: info.name, pricing: content.pricing as Pricing };
  }

  const markupOf = (r: Record<string, any>): Markup => ({
    type: r.markup_type as Markup['type'],
    value: Number(r.markup_value),
  });

  async function journal(
    q: Queryable,
    org: OrgContext,
    appId: string,
    before: Markup | null,
    after: Markup | null,
    rollbackOf: string | null = null,
  ) {
    const id = newId('apc');
    await q.query(
      `INSERT INTO agency_price_changes (id, agency_id, app_id, before, after, rollback_of, actor_user_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        id,
        org.org.id,
        appId,
        before && JSON.stringify(before),
        after && JSON.stringify(after),
        rollbackOf,
        org.actor.userId,
      ],
    );
    await audit.record(q, {
      organizationId: org.org.id,
      actor: org.actor,
      action: after ? 'resale.price_set' : 'resale.price_removed',
      targetType: 'app',
      targetId: appId,
      data: { before, after, change: id, rollbackOf },
    });
    return id;
  }

  /** Sets (or with null removes) the agency's markup of one app, journaled, in one transaction. */
  async function writePrice(
    org: OrgContext,
    appId: string,
    markup: Markup | null,
    rollbackOf: string | null,
  ) {
    const dev = await developerPricing(appId);
    if (markup) {
      if (dev.pricing.type === 'free') throw invalid('params.appId', 'free apps cannot be resold');
      if (!Number.isInteger(markup.value) || markup.value < 0)
        throw invalid('body.value', 'must be a whole number, 0 or more');
      if (markup.type === 'percent' && markup.value > 100_000)
        throw invalid('body.value', 'a percent markup is in basis points, at most 100000 (1000%)');
      const price = resalePricing(dev.pricing, markup);
      const top = price.type === 'usage' ? Math.max(price.unitAmount, price.cappedAmount) : price.amount;
      if (top > MAX_PRICE)
        throw invalid('body.value', `the resulting price exceeds ${MAX_PRICE} minor units`);
    }
    return db.transaction(async (tx) => {
      const row = await tx.maybeOne(
        'SELECT * FROM agency_prices WHERE agency_id = $1 AND app_id = $2 FOR UPDATE',
        [org.org.id, appId],
      );
      const before = row ? markupOf(row) : null;
      if (markup)
        await tx.query(
          `INSERT INTO agency_prices (agency_id, app_id, markup_type, markup_value, updated_by) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (agency_id, app_id) DO UPDATE SET markup_type = $3, markup_value = $4, updated_by = $5, updated_at = now()`,
          [org.org.id, appId, markup.type, markup.value, org.actor.userId],
        );
      else
        await tx.query('DELETE FROM agency_prices WHERE agency_id = $1 AND app_id = $2', [org.org.id, appId]);
      const change = await journal(tx, org, appId, before, markup, rollbackOf);
      return { change, before, after: markup, dev };
    });
  }

  async function viewOf(org: OrgContext, appId: string): Promise<ResalePriceView> {
    const row = await db.maybeOne('SELECT * FROM agency_prices WHERE agency_id = $1 AND app_id = $2', [
      org.org.id,
      appId,
    ]);
    if (!row) throw notFound('resale price');
    const dev = await developerPricing(appId);
    const m = markupOf(row);
    return {
      appId,
      appName: dev.name,
      markup: m,
      developerPricing: dev.pricing as Paid,
      resalePricing: resalePricing(dev.pricing as Paid, m),
      updatedAt: row.updated_at.toISOString(),
    };
  }

  async function catalogOf(agencyId: string): Promise<{ mode: CatalogMode; appIds: string[] }> {
    const row = await db.maybeOne('SELECT mode, app_ids FROM agency_resale_settings WHERE agency_id = $1', [
      agencyId,
    ]);
    return row ? { mode: row.mode, appIds: row.app_ids } : { mode: 'all', appIds: [] };
  }

  const offered = (c: { mode: CatalogMode; appIds: string[] }, appId: string) =>
    c.mode === 'all' || (c.mode === 'allow' ? c.appIds.includes(appId) : !c.appIds.includes(appId));

  /** The agency of a sub-account, or undefined for any other account. */
  async function agencyOf(accountId: string): Promise<string | undefined> {
    const account = await organizations.byId(accountId);
    if (!account?.parentId) return undefined;
    const parent = await organizations.byId(account.parentId);
    return parent?.kind === 'agency' ? parent.id : undefined;
  }

  /** `marketplace.pricing`: a sub-account's price of an app its agency resells. */
  const pricing: MarketplacePricing = {
    async quote({ appId, accountId, pricing: declared }) {
      if (!accountId) return undefined;
      const agencyId = await agencyOf(accountId);
      if (!agencyId) return undefined;
      // Payments asks for the price before anything else of a paid install: a hidden app stops here.
      if (!offered(await catalogOf(agencyId), appId))
        throw forbidden('this app is not offered in this account (its agency does not make it available)');
      const row = await db.maybeOne('SELECT * FROM agency_prices WHERE agency_id = $1 AND app_id = $2', [
        agencyId,
        appId,
      ]);
      if (!row) return undefined;
      const dev = declared ?? (await developerPricing(appId)).pricing;
      if (dev.type === 'free') return undefined;
      const price = resalePricing(dev, markupOf(row));
      return {
        amount: price.type === 'usage' ? price.unitAmount : price.amount,
        currency: price.currency.toLowerCase(),
        interval: price.type === 'recurring' ? price.interval : price.type === 'usage' ? 'month' : null,
        label: label(price),
        pricing: price,
        resoldBy: agencyId,
      } satisfies PriceQuote;
    },
  };

  /** `installation.gate`: an app the agency hides from its sub-accounts is not installed in them. */
  const gate: InstallationGate = {
    async check(input) {
      const agencyId = await agencyOf(input.accountId);
      if (!agencyId) return;
      if (!offered(await catalogOf(agencyId), input.appId))
        throw forbidden('this app is not offered in this account (its agency does not make it available)');
    },
  };

  return {
    pricing,
    gate,

    async listPrices(org: OrgContext): Promise<ResalePriceView[]> {
      assertAgencyAdmin(org);
      const rows = await db.query('SELECT app_id FROM agency_prices WHERE agency_id = $1 ORDER BY app_id', [
        org.org.id,
      ]);
      const out: ResalePriceView[] = [];
      for (const r of rows) {
        // An app withdrawn since keeps its row; it is simply not shown.
        const v = await viewOf(org, r.app_id).catch((err) => {
          if (err instanceof PlazaError && err.code === 'PLAZA_NOT_FOUND') return undefined;
          throw err;
        });
        if (v) out.push(v);
      }
      return out;
    },

    async setPrice(org: OrgContext, appId: string, markup: Markup): Promise<ResalePriceView> {
      assertAgencyAdmin(org);
      await writePrice(org, appId, markup, null);
      return viewOf(org, appId);
    },

    async removePrice(org: OrgContext, appId: string): Promise<void> {
      assertAgencyAdmin(org);
      const row = await db.maybeOne('SELECT 1 FROM agency_prices WHERE agency_id = $1 AND app_id = $2', [
        org.org.id,
        appId,
      ]);
      if (!row) throw notFound('resale price');
      await writePrice(org, appId, null, null);
    },

    /** The journal of price changes, newest first. */
    async priceChanges(
      org: OrgContext,
      page: { limit: number; cursor?: string; appId?: string },
    ): Promise<Page<PriceChangeView>> {
      assertAgencyAdmin(org);
      const after = decodeCursor(page.cursor);
      const rows = await db.query(
        `SELECT * FROM agency_price_changes WHERE agency_id = $1 AND ($2::text IS NULL OR app_id = $2)
           AND ($3::text IS NULL OR id < $3) ORDER BY id DESC LIMIT $4`,
        [org.org.id, page.appId ?? null, after ? String(after[0]) : null, page.limit + 1],
      );
      const names = await apps.namesByIds([...new Set(rows.map((r) => r.app_id as string))]);
      return toPage(
        rows,
        page.limit,
        (r) => [r.id],
        (r) => ({
          id: r.id,
          appId: r.app_id,
          appName: names.get(r.app_id) ?? r.app_id,
          before: r.before,
          after: r.after,
          rollbackOf: r.rollback_of,
          actorUserId: r.actor_user_id,
          createdAt: r.created_at.toISOString(),
        }),
      );
    },

    /** Puts the app's price back to what it was before `changeId` (a new, journaled change). */
    async rollback(org: OrgContext, changeId: string) {
      assertAgencyAdmin(org);
      const change = await db.maybeOne(
        'SELECT * FROM agency_price_changes WHERE id = $1 AND agency_id = $2',
        [changeId, org.org.id],
      );
      if (!change) throw notFound('price change');
      const restored = change.before as Markup | null;
      const written = await writePrice(org, change.app_id, restored, change.id);
      return {
        change: written.change,
        appId: change.app_id as string,
        price: restored ? await viewOf(org, change.app_id) : null,
      };
    },

    async catalog(org: OrgContext) {
      assertAgencyAdmin(org);
      return catalogOf(org.org.id);
    },

    async setCatalog(org: OrgContext, input: { mode: CatalogMode; appIds: string[] }) {
      assertAgencyAdmin(org);
      const appIds = [...new Set(input.appIds)].sort();
      if (appIds.length) {
        const known = await apps.namesByIds(appIds);
        const unknown = appIds.filter((id) => !known.has(id));
        if (unknown.length) throw invalid('body.appIds', `no such app: ${unknown.join(', ')}`);
      }
      await db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO agency_resale_settings (agency_id, mode, app_ids, updated_by) VALUES ($1, $2, $3, $4)
           ON CONFLICT (agency_id) DO UPDATE SET mode = $2, app_ids = $3, updated_by = $4, updated_at = now()`,
          [org.org.id, input.mode, appIds, org.actor.userId],
        );
        await audit.record(tx, {
          organizationId: org.org.id,
          actor: org.actor,
          action: 'resale.catalog_set',
          targetType: 'organization',
          targetId: org.org.id,
          data: { mode: input.mode, appIds },
        });
      });
      return { mode: input.mode, appIds };
    },

    /**
     * The marketplace as an account sees it: for a sub-account, only the apps
     * its agency offers, each at the price the account would pay (the agency's
     * where it resells the app). Other accounts get the marketplace unchanged.
     */
    async offers(org: OrgContext, query: SearchInput): Promise<Page<Offer>> {
      if (org.org.kind !== 'account') throw forbidden('only accounts browse offers');
      const page = await marketplace.search(query);
      const agencyId = await agencyOf(org.org.id);
      const c = agencyId ? await catalogOf(agencyId) : { mode: 'all' as const, appIds: [] };
      const data: Offer[] = [];
      for (const l of page.data) {
        if (!offered(c, l.appId)) continue;
        const q =
          agencyId && l.pricing.type !== 'free'
            ? await pricing.quote({ appId: l.appId, accountId: org.org.id })
            : undefined;
        data.push({ ...l, pricing: q?.pricing ?? l.pricing, resold: Boolean(q) });
      }
      return { data, nextCursor: page.nextCursor };
    },

    /**
     * One app's page as an account sees it: the listing at the price the account pays, or
     * 404 when its agency does not offer the app (the page never carries the developer's price
     * for a sub-account its agency resells the app to).
     */
    async offer(org: OrgContext, slug: string): Promise<ListingDetail & { resold: boolean }> {
      if (org.org.kind !== 'account') throw forbidden('only accounts browse offers');
      const listing = await marketplace.getBySlug(slug);
      const agencyId = await agencyOf(org.org.id);
      if (agencyId && !offered(await catalogOf(agencyId), listing.appId)) throw notFound('app');
      const q =
        agencyId && listing.pricing.type !== 'free'
          ? await pricing.quote({ appId: listing.appId, accountId: org.org.id })
          : undefined;
      return { ...listing, pricing: q?.pricing ?? listing.pricing, resold: Boolean(q) };
    },

    agencyOf,
  };
}

export type Resale = ReturnType<typeof createResale>;
