import type { Db } from '../../db/index.ts';
import { conflict, forbidden, notFound } from '../../errors.ts';
import type { ExtensionRegistry } from '../../lib/extension-points.ts';
import type { Logger } from '../../logger.ts';
import type { ScopeCatalog } from '../../scopes.ts';
import { type Actor, hasRole, type OrgContext } from '../../tenancy.ts';
import type { AppsService } from '../apps/index.ts';
import type { AuditService } from '../audit/index.ts';
import type { ContactsService } from '../contacts/index.ts';
import type { EventsService } from '../events/index.ts';
import type { InstallationsService } from '../installations/index.ts';
import type { LedgerService } from '../ledger/index.ts';
import type { MarketplaceService } from '../marketplace/index.ts';
import type { OAuthService } from '../oauth/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import type { PaymentsService } from '../payments/index.ts';
import { createBulkInstaller } from './bulk-install.ts';
import { createResale } from './resale.ts';
import { createTemplates } from './templates.ts';

export interface AgencyDeps {
  db: Db;
  log: Logger;
  scopes: ScopeCatalog;
  extensions: ExtensionRegistry;
  apps: AppsService;
  audit: AuditService;
  contacts: ContactsService;
  events: EventsService;
  installations: InstallationsService;
  ledger: LedgerService;
  marketplace: MarketplaceService;
  oauth: OAuthService;
  organizations: OrganizationsService;
  payments: PaymentsService;
  now?: () => Date;
}

const DAY = 86_400_000;

export interface DashboardQuery {
  limit: number;
  cursor?: string;
  q?: string;
  status?: 'paying' | 'past_due' | 'paused' | 'no_apps';
  appId?: string;
}

/**
 * What agencies do across their sub-accounts: bulk installs, templates that
 * provision sub-accounts in one step, app resale at the agency's price (and
 * pausing a sub-account that does not pay), and the dashboard of it all.
 */
export function createAgencyService(deps: AgencyDeps) {
  const { db, audit, events, organizations, payments, ledger, installations } = deps;
  const now = deps.now ?? (() => new Date());
  const bulk = createBulkInstaller({ ...deps, grants: deps.oauth.grants });
  const templates = createTemplates({ ...deps, bulk });
  const resale = createResale(deps);
  deps.extensions.add('marketplace.pricing', resale.pricing, 'agency');
  deps.extensions.add('installation.gate', resale.gate, 'agency');

  function assertAgencyAdmin(org: OrgContext) {
    if (org.org.kind !== 'agency') throw forbidden('only agencies have sub-accounts');
    if (!hasRole(org, 'admin')) throw forbidden('this needs the admin or owner role of the agency');
  }

  async function subAccountOf(org: OrgContext, id: string) {
    const sub = await organizations.byId(id);
    if (!sub || sub.parentId !== org.org.id) throw notFound('sub-account');
    return sub;
  }

  async function graceDays(agencyId: string): Promise<number> {
    const row = await db.maybeOne(
      'SELECT pause_grace_days FROM agency_resale_settings WHERE agency_id = $1',
      [agencyId],
    );
    return row?.pause_grace_days ?? 7;
  }

  /** What a sub-account owes its agency: failed payments for apps the agency resells to it. */
  async function owed(agencyId: string, subId: string) {
    return (await payments.subscriptions.overdue(subId)).filter(
      (i) => i.resold && i.agencyOrgId === agencyId,
    );
  }

  // Paying what was due resumes a paused sub-account (the invoices it was paused for, all paid).
  events.subscribe({
    name: 'agency.resume-when-paid',
    types: ['payment.succeeded'],
    handler: async (event) => {
      const invoiceId = String((event.payload as { invoiceId?: string }).invoiceId ?? '');
      if (!event.organizationId || !invoiceId) return;
      const left = await db.maybeOne(
        `UPDATE agency_pauses SET invoice_ids = array_remove(invoice_ids, $2) WHERE sub_account_id = $1
         RETURNING invoice_ids`,
        [event.organizationId, invoiceId],
      );
      if (!left || left.invoice_ids.length > 0) return;
      await db.query('DELETE FROM agency_pauses WHERE sub_account_id = $1', [event.organizationId]);
      await organizations.resumePaused(event.organizationId);
    },
  });

  return {
    /**
     * An agency owner or admin installs an app into several of its
     * sub-accounts (bulk-install.ts): a grant and an installation each,
     * reported per sub-account.
     */
    bulkInstall: bulk.install,
    /** The bulk-install page: the app's scopes in plain words and which sub-accounts have it. */
    bulkInstallPreview: bulk.preview,
    /** Sub-account templates (templates.ts). */
    templates,
    /** App resale: prices, their journal and rollback, the catalog (resale.ts). */
    resale,

    async resaleSettings(org: OrgContext) {
      assertAgencyAdmin(org);
      return { ...(await resale.catalog(org)), pauseGraceDays: await graceDays(org.org.id) };
    },

    async setPauseGrace(org: OrgContext, days: number) {
      assertAgencyAdmin(org);
      await db.query(
        `INSERT INTO agency_resale_settings (agency_id, pause_grace_days, updated_by) VALUES ($1, $2, $3)
         ON CONFLICT (agency_id) DO UPDATE SET pause_grace_days = $2, updated_by = $3, updated_at = now()`,
        [org.org.id, days, org.actor.userId],
      );
      await audit.record(db, {
        organizationId: org.org.id,
        actor: org.actor,
        action: 'resale.pause_grace_set',
        targetType: 'organization',
        targetId: org.org.id,
        data: { days },
      });
      return this.resaleSettings(org);
    },

    /**
     * Pauses a sub-account whose payment for an app the agency resells failed
     * longer ago than the agency's grace period (409 otherwise, saying until
     * when). Its people get 423 until it pays; the agency's admins keep access.
     */
    async pause(org: OrgContext, subId: string, input: { reason?: string }) {
      assertAgencyAdmin(org);
      const sub = await subAccountOf(org, subId);
      const due = await owed(org.org.id, sub.id);
      if (!due.length)
        throw conflict(
          `${sub.name} has no failed payment to this agency: only a sub-account that did not pay can be paused`,
        );
      const days = await graceDays(org.org.id);
      const until = new Date(due[0].failedAt.getTime() + days * DAY);
      if (until > now())
        throw conflict(
          `${sub.name}'s payment failed on ${due[0].failedAt.toISOString().slice(0, 10)}; the ${days}-day grace period runs until ${until.toISOString()}`,
        );
      const reason =
        input.reason?.trim() ||
        `the payment for ${[...new Set(due.map((d) => d.appName))].join(', ')} failed and is overdue`;
      await db.query(
        `INSERT INTO agency_pauses (sub_account_id, agency_id, invoice_ids, paused_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (sub_account_id) DO UPDATE SET invoice_ids = $3, paused_by = $4`,
        [sub.id, org.org.id, due.map((d) => d.invoiceId), org.actor.userId],
      );
      return organizations.setPaused(org, sub.id, reason);
    },

    /** Resumes a paused sub-account by hand (an arrangement outside Plaza). */
    async resume(org: OrgContext, subId: string) {
      assertAgencyAdmin(org);
      const sub = await subAccountOf(org, subId);
      await db.query('DELETE FROM agency_pauses WHERE sub_account_id = $1', [sub.id]);
      return organizations.setPaused(org, sub.id, null);
    },

    /**
     * The page a paused sub-account's people see: why, since when, and a link
     * to pay each overdue invoice (the sub-account's own prices). Agency admins
     * see it too.
     */
    async pausedPage(actor: Actor, orgId: string) {
      const ctx = await organizations.resolveContext(actor, orgId, undefined, { allowPaused: true });
      const state = (await organizations.pausedStates([ctx.org.id])).get(ctx.org.id) ?? null;
      const agency = ctx.org.parentId ? await organizations.byId(ctx.org.parentId) : undefined;
      const due = [];
      for (const d of await payments.subscriptions.overdue(ctx.org.id))
        due.push({
          invoiceId: d.invoiceId,
          appName: d.appName,
          amount: d.amount,
          currency: d.currency,
          failedAt: d.failedAt.toISOString(),
          payUrl: await payments.subscriptions.payLink(ctx.org.id, d.subscriptionId),
        });
      return {
        organization: { id: ctx.org.id, name: ctx.org.name },
        agencyName: agency?.kind === 'agency' ? agency.name : null,
        paused: Boolean(state),
        pausedAt: state?.pausedAt ?? null,
        reason: state?.reason ?? null,
        due,
      };
    },

    /**
     * The agency dashboard: each sub-account with its installed apps, what it
     * pays (its subscriptions at the price it pays), whether it is past due or
     * paused, and what the agency earned from it (the ledger's split of its
     * charges: the agency's share and, in it, the resale markup). Filters by
     * name, status and app; totals cover every sub-account that matches.
     */
    async dashboard(org: OrgContext, query: DashboardQuery) {
      assertAgencyAdmin(org);
      // Which sub-accounts match: ids only, a few queries whatever their number (each module's
      // service answers for its own tables); the page itself is read in SQL, by name then id.
      const candidates = await organizations.childIdsMatching(org.org.id, query.q?.trim());
      const ids = candidates.map((c) => c.id);
      const statuses = await payments.subscriptions.statusesOf(ids);
      const withApps =
        query.appId || query.status === 'no_apps'
          ? await installations.accountsWithActive(ids, query.appId)
          : undefined;
      const pastDue = (id: string) => statuses.get(id)?.includes('past_due') ?? false;
      const matching = candidates.filter(
        (c) =>
          (!query.appId || withApps!.has(c.id)) &&
          (!query.status ||
            (query.status === 'paused' && c.paused) ||
            (query.status === 'past_due' && pastDue(c.id)) ||
            (query.status === 'paying' &&
              (statuses.get(c.id) ?? []).some((x) => x === 'active' || x === 'trialing')) ||
            (query.status === 'no_apps' && !withApps!.has(c.id))),
      );
      const page = await organizations.childrenPage(
        org.org.id,
        matching.map((c) => c.id),
        query,
      );
      const pageIds = page.data.map((s) => s.id);
      const [paused, installed, subscriptions, earnings] = await Promise.all([
        organizations.pausedStates(pageIds),
        installations.activeForAccounts(pageIds),
        payments.subscriptions.listForAccounts(pageIds),
        ledger.resaleEarnings(org.org.id),
      ]);
      const names = await deps.apps.namesByIds([...new Set(installed.map((i) => i.appId))]);
      const earningsOf = (subId: string) =>
        earnings
          .filter((e) => e.customerOrgId === subId)
          .map((e) => ({
            currency: e.currency,
            charges: e.charges,
            paid: Number(e.gross - e.refunded),
            agencyShare: Number(e.agencyShare - e.refundedShare),
            markup: Number(e.markup),
          }));
      const data = page.data.map((sub) => {
        const subs = subscriptions.filter((s) => s.accountId === sub.id && s.status !== 'canceled');
        const p = paused.get(sub.id);
        return {
          id: sub.id,
          name: sub.name,
          createdAt: sub.createdAt,
          paused: p ? { since: p.pausedAt, reason: p.reason } : null,
          pastDue: subs.some((s) => s.status === 'past_due'),
          apps: installed
            .filter((i) => i.accountId === sub.id)
            .map((i) => ({ appId: i.appId, name: names.get(i.appId) ?? i.appId, installedAt: i.createdAt })),
          pays: subs.map((s) => ({
            appId: s.appId,
            appName: s.appName,
            status: s.status,
            amount: s.pricing.type === 'usage' ? (s.usage?.amount ?? 0) : s.pricing.amount,
            currency: s.pricing.currency,
            interval:
              s.pricing.type === 'recurring'
                ? s.pricing.interval
                : s.pricing.type === 'usage'
                  ? 'month'
                  : null,
          })),
          earnings: earningsOf(sub.id),
        };
      });
      const matched = new Set(matching.map((c) => c.id));
      const totals = new Map<
        string,
        { currency: string; paid: number; agencyShare: number; markup: number }
      >();
      for (const e of earnings) {
        if (!matched.has(e.customerOrgId)) continue;
        const t = totals.get(e.currency) ?? { currency: e.currency, paid: 0, agencyShare: 0, markup: 0 };
        t.paid += Number(e.gross - e.refunded);
        t.agencyShare += Number(e.agencyShare - e.refundedShare);
        t.markup += Number(e.markup);
        totals.set(e.currency, t);
      }
      return {
        data,
        nextCursor: page.nextCursor,
        totals: {
          subAccounts: matching.length,
          paused: matching.filter((c) => c.paused).length,
          pastDue: matching.filter((c) => pastDue(c.id)).length,
          earnings: [...totals.values()],
        },
      };
    },
  };
}

export type AgencyService = ReturnType<typeof createAgencyService>;
