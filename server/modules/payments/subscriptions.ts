import type { Db, Queryable, Row, Tx } from '../../db/index.ts';
import { conflict, PlazaError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { Logger } from '../../logger.ts';
import type { AppContext } from '../../tenancy.ts';
import type { AppsService } from '../apps/index.ts';
import type { EventsService } from '../events/index.ts';
import type { InstallationGate } from '../installations/index.ts';
import type { LedgerService } from '../ledger/index.ts';
import type { MarketplaceService, Pricing } from '../marketplace/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import type { PaymentProvider, ProviderCharge } from './provider.ts';
import { ProviderRefusal } from './provider.ts';
import type { EventHandler } from './provider-events.ts';

/**
 * Paid installs. Installing an app whose version has a price passes the
 * `installation.gate`: without a paid (or trialing) subscription the install
 * is refused with 402 and a Checkout link; once the customer has paid, the
 * install goes through. Recurring prices renew from the saved card (a job),
 * usage is reported by the app against the cap the customer approved and
 * charged at the end of each month, and uninstalling stops renewal.
 *
 * Every paid invoice is one charge of the platform (separate charges and
 * transfers, `transfer_group` = the invoice) recorded in the ledger, which
 * splits it and pays each party's share out in its payout runs.
 */
export const PAYMENT_EVENT_TYPES = {
  succeeded: 'payment.succeeded',
  failed: 'payment.failed',
  refunded: 'payment.refunded',
} as const;

/**
 * A paid install's free trial: `trial.started` when the trialing subscription is
 * created, `trial.ended` once its outcome is known: converted when the first
 * invoice after the trial is paid (often by hand after the renewal found no card
 * and left it past due), not converted when the subscription is canceled before
 * any payment. One of each per trial, in the transaction that changes the state.
 */
export const TRIAL_EVENT_TYPES = {
  started: 'trial.started',
  ended: 'trial.ended',
} as const;

type Paid = Exclude<Pricing, { type: 'free' }>;

export interface SubscriptionView {
  id: string;
  accountId: string;
  appId: string;
  appName: string;
  status: 'pending_payment' | 'trialing' | 'active' | 'past_due' | 'canceled';
  pricing: Paid;
  provider: string;
  sandbox: boolean;
  trialEnd: string | null;
  currentPeriodStart: string | null;
  currentPeriodEnd: string | null;
  usageCap: number | null;
  /** Usage in the current period (usage prices). */
  usage: { quantity: number; amount: number } | null;
  /** Where to pay what is due (a first payment, or a renewal that failed). */
  payUrl: string | null;
  canceledAt: string | null;
  invoices: InvoiceView[];
}

export interface InvoiceView {
  id: string;
  kind: 'initial' | 'renewal' | 'usage';
  amount: number;
  currency: string;
  status: 'open' | 'paid' | 'failed' | 'void';
  periodStart: string | null;
  periodEnd: string | null;
  paidAt: string | null;
  amountRefunded: number;
  failure: string | null;
}

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

/** Adds a billing interval in UTC (the 31st rolls to the month's last day). */
export function addInterval(from: Date, interval: 'month' | 'year'): Date {
  const d = new Date(from);
  const day = d.getUTCDate();
  d.setUTCDate(1);
  if (interval === 'year') d.setUTCFullYear(d.getUTCFullYear() + 1);
  else d.setUTCMonth(d.getUTCMonth() + 1);
  const last = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, last));
  return d;
}

const intervalOf = (p: Paid) => (p.type === 'recurring' ? p.interval : 'month');

/**
 * The agency's markup in an invoice of `amount` on a resold subscription: the amount less
 * what the developer's own price asks for the same thing (usage: the same quantity, under
 * the developer's cap). 0 without resale.
 */
function markupOf(sub: Row, amount: bigint, quantity = 0n): bigint {
  const dev = (sub.resale as { developerPricing: Paid } | null)?.developerPricing;
  if (!dev) return 0n;
  let base: bigint;
  if (dev.type === 'usage') {
    const raw = quantity * BigInt(dev.unitAmount);
    base = raw > BigInt(dev.cappedAmount) ? BigInt(dev.cappedAmount) : raw;
  } else base = BigInt(dev.amount);
  const markup = amount - base;
  return markup > 0n && markup < amount ? markup : 0n;
}

export function createSubscriptions(deps: {
  db: Db;
  log: Logger;
  provider: PaymentProvider;
  ledger: LedgerService;
  events: EventsService;
  apps: AppsService;
  organizations: OrganizationsService;
  /** Price quotes (`marketplace.pricing`): an agency's resale price for its sub-accounts. */
  marketplace?: Pick<MarketplaceService, 'quote'>;
  baseUrl: string;
  now?: () => Date;
}) {
  const { db, log, provider, ledger, events, apps, organizations, baseUrl, marketplace } = deps;
  const now = deps.now ?? (() => new Date());

  const openSubscription = (q: Queryable, accountId: string, appId: string) =>
    q.maybeOne(
      "SELECT * FROM payments_subscriptions WHERE account_id = $1 AND app_id = $2 AND status <> 'canceled'",
      [accountId, appId],
    );

  /** Creates the Checkout for an open invoice (once per invoice: the key makes a retry return it). */
  async function checkoutFor(inv: Row, sub: Row, slug: string | null): Promise<string> {
    if (inv.checkout_url) return inv.checkout_url;
    const back = slug ? `${baseUrl}/marketplace/${slug}` : `${baseUrl}/orgs/${sub.account_id}/installed-apps`;
    const session = await provider.createCheckout({
      idempotencyKey: `checkout:${inv.id}`,
      mode: 'payment',
      amount: BigInt(inv.amount),
      currency: inv.currency,
      description: inv.description ?? 'App subscription',
      transferGroup: inv.id,
      saveCard: sub.pricing.type !== 'one_time',
      customerId: sub.customer_id,
      successUrl: `${back}?payment=success`,
      cancelUrl: `${back}?payment=canceled`,
      metadata: { plaza_invoice: inv.id, plaza_subscription: sub.id, plaza_account: sub.account_id },
    });
    await db.query('UPDATE payments_invoices SET checkout_session_id = $2, checkout_url = $3 WHERE id = $1', [
      inv.id,
      session.sessionId,
      session.url,
    ]);
    return session.url;
  }

  function paymentRequired(url: string, sub: Row, amount: number | null, currency: string): PlazaError {
    const price =
      amount === null ? 'save a card for usage charges' : `pay ${(amount / 100).toFixed(2)} ${currency}`;
    return new PlazaError(
      'PLAZA_PAYMENT_REQUIRED',
      `This app is paid: ${price} at ${url}, then install again.`,
      {
        extra: {
          checkoutUrl: url,
          subscriptionId: sub.id,
          amount,
          currency,
          sandbox: provider.name === 'sandbox',
        },
      },
    );
  }

  /** The gate: a paid app installs only with a paid or trialing subscription. */
  const gate: InstallationGate = {
    async check(input) {
      const { app, content } = await apps.versionForReview(db, input.versionId);
      const declared = content.pricing as Pricing;
      if (!declared || declared.type === 'free') return;
      const account = await organizations.byId(input.accountId);
      // The developer's own test accounts install its apps without paying (development).
      if (account?.parentId === app.organizationId) return;
      let sub = await openSubscription(db, input.accountId, input.appId);
      if (sub && (sub.status === 'active' || sub.status === 'trialing')) return;
      const parent = account?.parentId ? await organizations.byId(account.parentId) : undefined;
      // A sub-account pays its agency's resale price when the agency set one (never below the developer's).
      const quote =
        parent?.kind === 'agency'
          ? await marketplace?.quote(input.appId, input.accountId, declared)
          : undefined;
      const resold =
        quote?.pricing && quote.resoldBy === parent?.id && quote.pricing.type === declared.type
          ? (quote.pricing as Paid)
          : undefined;
      const pricing: Paid = (sub?.pricing as Paid | undefined) ?? resold ?? declared;
      if (!sub) {
        const trialDays = pricing.type === 'recurring' ? pricing.trialDays : 0;
        const t = now();
        const trialEnd = trialDays > 0 ? new Date(t.getTime() + trialDays * 86_400_000) : null;
        sub = await db.transaction(async (tx) => {
          const created = await tx.maybeOne(
            `INSERT INTO payments_subscriptions (id, account_id, app_id, version_id, developer_org_id, agency_org_id,
               category, pricing, currency, status, provider, trial_end, current_period_start, current_period_end,
               usage_cap, created_by, resale)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)
             ON CONFLICT (account_id, app_id) WHERE status <> 'canceled' DO NOTHING RETURNING *`,
            [
              newId('sub'),
              input.accountId,
              input.appId,
              input.versionId,
              app.organizationId,
              parent?.kind === 'agency' ? parent.id : null,
              content.category ?? null,
              JSON.stringify(pricing),
              pricing.currency,
              trialEnd ? 'trialing' : 'pending_payment',
              provider.name,
              trialEnd,
              trialEnd ? t : null,
              trialEnd,
              pricing.type === 'usage' ? pricing.cappedAmount : null,
              input.actor.userId,
              resold ? JSON.stringify({ agencyOrgId: parent!.id, developerPricing: declared }) : null,
            ],
          );
          const row = created ?? (await openSubscription(tx, input.accountId, input.appId));
          if (created && trialEnd)
            await events.emit(tx, input.accountId, TRIAL_EVENT_TYPES.started, {
              subscriptionId: created.id,
              appId: input.appId,
              trialDays,
              trialEnd: trialEnd.toISOString(),
            });
          if (created && pricing.type !== 'usage' && !trialEnd)
            await tx.query(
              `INSERT INTO payments_invoices (id, subscription_id, account_id, app_id, developer_org_id, kind, amount,
                 currency, status, markup) VALUES ($1,$2,$3,$4,$5,'initial',$6,$7,'open',$8)`,
              [
                newId('inv'),
                row!.id,
                input.accountId,
                input.appId,
                app.organizationId,
                row!.pricing.amount,
                row!.pricing.currency,
                markupOf(row!, BigInt(row!.pricing.amount)).toString(),
              ],
            );
          return row!;
        });
        if (sub.status === 'trialing') return;
      }
      // Pay what is open: the first invoice, a failed renewal, or (usage) save a card.
      const slug = app.slug ?? null;
      const inv = await db.maybeOne(
        "SELECT i.*, $2::text AS description FROM payments_invoices i WHERE subscription_id = $1 AND status = 'open' ORDER BY created_at LIMIT 1",
        [sub.id, `${content.name} (${describePrice(pricing)})`],
      );
      if (inv)
        throw paymentRequired(await checkoutFor(inv, sub, slug), sub, Number(inv.amount), inv.currency);
      if (pricing.type === 'usage') {
        const back = slug
          ? `${baseUrl}/marketplace/${slug}`
          : `${baseUrl}/orgs/${sub.account_id}/installed-apps`;
        const session = await provider.createCheckout({
          idempotencyKey: `setup:${sub.id}`,
          mode: 'setup',
          amount: 0n,
          currency: pricing.currency,
          description: `${content.name} (${describePrice(pricing)})`,
          transferGroup: sub.id,
          saveCard: true,
          customerId: sub.customer_id,
          successUrl: `${back}?payment=success`,
          cancelUrl: `${back}?payment=canceled`,
          metadata: { plaza_subscription: sub.id, plaza_account: sub.account_id },
        });
        await db.query('UPDATE payments_subscriptions SET setup_session_id = $2 WHERE id = $1', [
          sub.id,
          session.sessionId,
        ]);
        throw paymentRequired(session.url, sub, null, pricing.currency);
      }
      throw new PlazaError('PLAZA_PAYMENT_REQUIRED', 'This app is paid and its subscription is not active.');
    },
  };

  /**
   * Marks an open invoice paid by `charge` in `tx`: the subscription is
   * active for the invoice's period, the card is kept, the ledger records the
   * charge (idempotent on the invoice) and `payment.succeeded` is emitted.
   * Does nothing when the invoice is no longer open (a redelivered event).
   */
  async function markPaid(
    tx: Tx,
    invoiceId: string,
    charge: ProviderCharge,
    card: { customerId: string | null; paymentMethodId: string | null },
  ) {
    const inv = await tx.maybeOne('SELECT * FROM payments_invoices WHERE id = $1 FOR UPDATE', [invoiceId]);
    if (!inv || inv.status === 'paid') return false;
    if (BigInt(inv.amount) !== charge.amount || inv.currency !== charge.currency)
      throw new Error(
        `invoice ${inv.id} is ${inv.amount} ${inv.currency} but charge ${charge.chargeId} is ${charge.amount} ${charge.currency}`,
      );
    const sub = await tx.one('SELECT * FROM payments_subscriptions WHERE id = $1 FOR UPDATE', [
      inv.subscription_id,
    ]);
    const paidAt = now();
    await tx.query(
      `UPDATE payments_invoices SET status = 'paid', provider_charge_id = $2, processing_fee = $3, paid_at = $4, failure = NULL
       WHERE id = $1`,
      [inv.id, charge.chargeId, charge.fee, paidAt],
    );
    const pricing = sub.pricing as Paid;
    let start: Date | null = null;
    let end: Date | null = null;
    if (inv.kind === 'renewal') {
      start = inv.period_start;
      end = inv.period_end;
    } else if (inv.kind === 'initial' && pricing.type === 'recurring') {
      start = paidAt;
      end = addInterval(paidAt, pricing.interval);
      await tx.query('UPDATE payments_invoices SET period_start = $2, period_end = $3 WHERE id = $1', [
        inv.id,
        start,
        end,
      ]);
    }
    if (inv.kind !== 'usage')
      await tx.query(
        `UPDATE payments_subscriptions SET status = CASE WHEN status = 'canceled' THEN status ELSE 'active' END,
           current_period_start = coalesce($2, current_period_start), current_period_end = coalesce($3, current_period_end),
           customer_id = coalesce($4, customer_id), payment_method_id = coalesce($5, payment_method_id), updated_at = now()
         WHERE id = $1`,
        [sub.id, start, end, card.customerId, card.paymentMethodId],
      );
    await ledger.recordCharge(tx, {
      invoiceId: inv.id,
      providerChargeId: charge.chargeId,
      provider: provider.name,
      customerOrgId: sub.account_id,
      amount: charge.amount,
      currency: charge.currency,
      processingFee: charge.fee,
      developerOrgId: sub.developer_org_id,
      appId: sub.app_id,
      category: sub.category,
      agencyOrgId: sub.agency_org_id,
      markup: BigInt(inv.markup),
      at: paidAt,
      settlesAt: charge.availableOn,
      description: `${inv.kind} ${inv.id}`,
    });
    // The first payment of a subscription that began with a trial converts it.
    if (sub.trial_end && inv.kind !== 'usage' && sub.status !== 'canceled') {
      const earlier = await tx.maybeOne(
        "SELECT 1 FROM payments_invoices WHERE subscription_id = $1 AND status = 'paid' AND id <> $2 LIMIT 1",
        [sub.id, inv.id],
      );
      if (!earlier)
        await events.emit(tx, sub.account_id, TRIAL_EVENT_TYPES.ended, {
          subscriptionId: sub.id,
          appId: sub.app_id,
          trialEnd: iso(sub.trial_end)!,
          converted: true,
          reason: 'paid',
        });
    }
    await events.emit(tx, sub.account_id, PAYMENT_EVENT_TYPES.succeeded, {
      invoiceId: inv.id,
      subscriptionId: sub.id,
      appId: sub.app_id,
      kind: inv.kind,
      amount: Number(charge.amount),
      currency: charge.currency,
    });
    return true;
  }

  async function markFailed(tx: Tx, inv: Row, reason: string) {
    await tx.query(
      "UPDATE payments_invoices SET failure = $2, failed_at = coalesce(failed_at, $3) WHERE id = $1 AND status = 'open'",
      [inv.id, reason, now()],
    );
    await tx.query(
      "UPDATE payments_subscriptions SET status = 'past_due', updated_at = now() WHERE id = $1 AND status IN ('active', 'trialing')",
      [inv.subscription_id],
    );
    await events.emit(tx, inv.account_id, PAYMENT_EVENT_TYPES.failed, {
      invoiceId: inv.id,
      subscriptionId: inv.subscription_id,
      appId: inv.app_id,
      kind: inv.kind,
      amount: Number(inv.amount),
      currency: inv.currency,
      reason,
    });
  }

  /** `checkout.session.completed`: fetch the session and its charge, then settle the invoice (or save the card). */
  const onCheckoutCompleted: EventHandler = async (event) => {
    const session = await provider.retrieveCheckout(event.objectId);
    if (session.status !== 'complete') return null;
    const inv = await db.maybeOne('SELECT id FROM payments_invoices WHERE checkout_session_id = $1', [
      session.sessionId,
    ]);
    if (inv) {
      if (!session.paymentIntentId) return null;
      const charge = await provider.retrieveCharge(session.paymentIntentId);
      return async (tx) => {
        await markPaid(tx, inv.id, charge, {
          customerId: session.customerId,
          paymentMethodId: session.paymentMethodId,
        });
      };
    }
    const sub = await db.maybeOne('SELECT id FROM payments_subscriptions WHERE setup_session_id = $1', [
      session.sessionId,
    ]);
    if (!sub) return null;
    return async (tx) => {
      const t = now();
      await tx.query(
        `UPDATE payments_subscriptions SET status = 'active', customer_id = $2, payment_method_id = $3,
           current_period_start = coalesce(current_period_start, $4), current_period_end = coalesce(current_period_end, $5),
           updated_at = now()
         WHERE id = $1 AND status = 'pending_payment'`,
        [sub.id, session.customerId, session.paymentMethodId, t, addInterval(t, 'month')],
      );
    };
  };

  /** Charges an open invoice with the saved card (idempotent on the invoice). */
  async function collect(invoiceId: string): Promise<'paid' | 'failed' | 'no_card'> {
    const inv = await db.one('SELECT * FROM payments_invoices WHERE id = $1', [invoiceId]);
    if (inv.status !== 'open') return inv.status === 'paid' ? 'paid' : 'failed';
    const sub = await db.one('SELECT * FROM payments_subscriptions WHERE id = $1', [inv.subscription_id]);
    if (!sub.customer_id || !sub.payment_method_id) {
      await db.transaction((tx) =>
        markFailed(tx, inv, 'No saved card: pay the invoice through its payment link.'),
      );
      return 'no_card';
    }
    try {
      const charge = await provider.chargeSavedCard({
        idempotencyKey: `charge:${inv.id}`,
        customerId: sub.customer_id,
        paymentMethodId: sub.payment_method_id,
        amount: BigInt(inv.amount),
        currency: inv.currency,
        description: `${inv.kind === 'usage' ? 'Usage' : 'Renewal'} ${inv.id}`,
        transferGroup: inv.id,
        metadata: { plaza_invoice: inv.id, plaza_subscription: sub.id, plaza_account: sub.account_id },
      });
      await db.transaction((tx) => markPaid(tx, inv.id, charge, { customerId: null, paymentMethodId: null }));
      return 'paid';
    } catch (err) {
      if (!(err instanceof ProviderRefusal)) throw err;
      await db.transaction((tx) => markFailed(tx, inv, err.message));
      return 'failed';
    }
  }

  async function listFor(accountIds: string[]): Promise<SubscriptionView[]> {
    const subs = await db.query(
      'SELECT * FROM payments_subscriptions WHERE account_id = ANY($1) ORDER BY created_at DESC',
      [accountIds],
    );
    if (!subs.length) return [];
    const invs = await db.query(
      'SELECT * FROM payments_invoices WHERE subscription_id = ANY($1) ORDER BY created_at DESC',
      [subs.map((s) => s.id)],
    );
    const usage = await db.query(
      `SELECT u.subscription_id, sum(u.quantity)::int AS q FROM payments_usage u JOIN payments_subscriptions s
         ON s.id = u.subscription_id AND u.period_start = s.current_period_start
       WHERE s.id = ANY($1) GROUP BY 1`,
      [subs.map((s) => s.id)],
    );
    const names = await apps.namesByIds([...new Set(subs.map((s) => s.app_id as string))]);
    return subs.map((s) => {
      const pricing = s.pricing as Paid;
      const mine = invs.filter((i) => i.subscription_id === s.id);
      const open = mine.find((i) => i.status === 'open' && i.checkout_url);
      const q = usage.find((u) => u.subscription_id === s.id)?.q ?? 0;
      return {
        id: s.id,
        accountId: s.account_id,
        appId: s.app_id,
        appName: names.get(s.app_id) ?? s.app_id,
        status: s.status,
        pricing,
        provider: s.provider,
        sandbox: s.provider === 'sandbox',
        trialEnd: iso(s.trial_end),
        currentPeriodStart: iso(s.current_period_start),
        currentPeriodEnd: iso(s.current_period_end),
        usageCap: s.usage_cap === null ? null : Number(s.usage_cap),
        usage: pricing.type === 'usage' ? { quantity: q, amount: q * pricing.unitAmount } : null,
        payUrl: s.status === 'canceled' ? null : (open?.checkout_url ?? null),
        canceledAt: iso(s.canceled_at),
        invoices: mine.map((i) => ({
          id: i.id,
          kind: i.kind,
          amount: Number(i.amount),
          currency: i.currency,
          status: i.status,
          periodStart: iso(i.period_start),
          periodEnd: iso(i.period_end),
          paidAt: iso(i.paid_at),
          amountRefunded: Number(i.amount_refunded),
          failure: i.failure,
        })),
      };
    });
  }

  return {
    gate,
    onCheckoutCompleted,
    markPaid,

    /**
     * The renewal job: for every subscription whose period ended, the next
     * period's invoice (recurring) or the ended period's usage (usage) is
     * created once and charged to the saved card. A crash between the charge
     * and its record is safe: the next run charges again with the same key and
     * the provider returns the first charge.
     */
    async renewDue(at: Date = now()): Promise<{ invoices: number; paid: number; failed: number }> {
      const due = await db.query(
        `SELECT id FROM payments_subscriptions WHERE status IN ('active', 'trialing') AND current_period_end <= $1
         ORDER BY current_period_end LIMIT 500`,
        [at],
      );
      for (const { id } of due) {
        await db.transaction(async (tx) => {
          const sub = await tx.maybeOne(
            "SELECT * FROM payments_subscriptions WHERE id = $1 AND status IN ('active', 'trialing') AND current_period_end <= $2 FOR UPDATE SKIP LOCKED",
            [id, at],
          );
          if (!sub) return;
          const pricing = sub.pricing as Paid;
          if (pricing.type === 'one_time') return;
          const start: Date = sub.current_period_end;
          const end = addInterval(start, intervalOf(pricing));
          if (pricing.type === 'recurring') {
            await tx.query(
              `INSERT INTO payments_invoices (id, subscription_id, account_id, app_id, developer_org_id, kind, amount,
                 currency, status, period_start, period_end, markup)
               VALUES ($1,$2,$3,$4,$5,'renewal',$6,$7,'open',$8,$9,$10) ON CONFLICT DO NOTHING`,
              [
                newId('inv'),
                sub.id,
                sub.account_id,
                sub.app_id,
                sub.developer_org_id,
                pricing.amount,
                pricing.currency,
                start,
                end,
                markupOf(sub, BigInt(pricing.amount)).toString(),
              ],
            );
            return;
          }
          // Usage: the ended period's usage, at most the cap, then the next period starts.
          const used = await tx.one(
            'SELECT coalesce(sum(quantity), 0)::bigint AS q FROM payments_usage WHERE subscription_id = $1 AND period_start = $2',
            [sub.id, sub.current_period_start],
          );
          const amount = BigInt(used.q) * BigInt(pricing.unitAmount);
          const capped = amount > BigInt(sub.usage_cap) ? BigInt(sub.usage_cap) : amount;
          if (capped > 0n)
            await tx.query(
              `INSERT INTO payments_invoices (id, subscription_id, account_id, app_id, developer_org_id, kind, amount,
                 currency, status, period_start, period_end, markup)
               VALUES ($1,$2,$3,$4,$5,'usage',$6,$7,'open',$8,$9,$10) ON CONFLICT DO NOTHING`,
              [
                newId('inv'),
                sub.id,
                sub.account_id,
                sub.app_id,
                sub.developer_org_id,
                capped,
                pricing.currency,
                sub.current_period_start,
                start,
                markupOf(sub, capped, BigInt(used.q)).toString(),
              ],
            );
          await tx.query(
            'UPDATE payments_subscriptions SET current_period_start = $2, current_period_end = $3, updated_at = now() WHERE id = $1',
            [sub.id, start, end],
          );
        });
      }
      // Charge every open invoice that has not failed yet (new ones, and any a crash left behind).
      const open = await db.query(
        `SELECT i.id FROM payments_invoices i JOIN payments_subscriptions s ON s.id = i.subscription_id
         WHERE i.status = 'open' AND i.failure IS NULL AND i.kind <> 'initial' AND s.status <> 'canceled' ORDER BY i.created_at`,
      );
      let paid = 0;
      let failed = 0;
      for (const { id } of open) {
        const r = await collect(id);
        if (r === 'paid') paid++;
        else failed++;
      }
      return { invoices: open.length, paid, failed };
    },

    /** Uninstalling stops renewal: the subscription ends now, no refund (one may be granted separately). */
    async cancel(accountId: string, appId: string): Promise<void> {
      await db.transaction(async (tx) => {
        const sub = await tx.maybeOne(
          "SELECT * FROM payments_subscriptions WHERE account_id = $1 AND app_id = $2 AND status <> 'canceled' FOR UPDATE",
          [accountId, appId],
        );
        if (!sub) return;
        await tx.query(
          "UPDATE payments_subscriptions SET status = 'canceled', canceled_at = now(), updated_at = now() WHERE id = $1",
          [sub.id],
        );
        // An unpaid invoice is no longer asked for.
        await tx.query(
          "UPDATE payments_invoices SET status = 'void' WHERE subscription_id = $1 AND status = 'open'",
          [sub.id],
        );
        // A trial canceled before any payment ended without converting.
        if (sub.trial_end) {
          const paid = await tx.maybeOne(
            "SELECT 1 FROM payments_invoices WHERE subscription_id = $1 AND status = 'paid' LIMIT 1",
            [sub.id],
          );
          if (!paid)
            await events.emit(tx, accountId, TRIAL_EVENT_TYPES.ended, {
              subscriptionId: sub.id,
              appId,
              trialEnd: iso(sub.trial_end)!,
              converted: false,
              reason: 'canceled',
            });
        }
        log.info({ subscription: sub.id, accountId, appId }, 'payments: subscription canceled on uninstall');
      });
    },

    /** `POST /v1/app/usage`: counted once per key of the app's, refused past the cap the customer approved. */
    async reportUsage(app: AppContext, input: { quantity: number; key: string }) {
      return db.transaction(async (tx) => {
        const sub = await tx.maybeOne(
          `SELECT * FROM payments_subscriptions WHERE account_id = $1 AND app_id = $2
             AND status IN ('active', 'trialing') AND pricing->>'type' = 'usage' FOR UPDATE`,
          [app.org.id, app.app.appId],
        );
        if (!sub) throw conflict('this installation has no active usage-priced subscription');
        const pricing = sub.pricing as Extract<Paid, { type: 'usage' }>;
        const seen = await tx.maybeOne(
          'SELECT * FROM payments_usage WHERE subscription_id = $1 AND idempotency_key = $2',
          [sub.id, input.key],
        );
        const totals = async () => {
          const u = await tx.one(
            'SELECT coalesce(sum(quantity), 0)::int AS q FROM payments_usage WHERE subscription_id = $1 AND period_start = $2',
            [sub.id, sub.current_period_start],
          );
          return { quantity: u.q as number, amount: u.q * pricing.unitAmount };
        };
        if (seen) {
          if (seen.quantity !== input.quantity)
            throw new PlazaError(
              'PLAZA_CONFLICT',
              `usage key ${input.key} was already used with quantity ${seen.quantity}`,
              {
                fields: [{ field: 'header.idempotency-key', reason: 'used before with another quantity' }],
              },
            );
          return { replayed: true, ...view(sub, await totals()) };
        }
        const before = await totals();
        const after = (before.quantity + input.quantity) * pricing.unitAmount;
        if (after > Number(sub.usage_cap))
          throw new PlazaError(
            'PLAZA_USAGE_CAP_REACHED',
            `this would bring the period's usage to ${after} (minor units); the customer approved at most ${sub.usage_cap}`,
            { extra: { cap: Number(sub.usage_cap), used: before.amount, currency: pricing.currency } },
          );
        await tx.query(
          'INSERT INTO payments_usage (subscription_id, idempotency_key, quantity, period_start) VALUES ($1, $2, $3, $4)',
          [sub.id, input.key, input.quantity, sub.current_period_start],
        );
        return { replayed: false, ...view(sub, await totals()) };
      });
      function view(sub: Row, used: { quantity: number; amount: number }) {
        return {
          subscriptionId: sub.id as string,
          periodStart: iso(sub.current_period_start)!,
          periodEnd: iso(sub.current_period_end)!,
          usedQuantity: used.quantity,
          usedAmount: used.amount,
          cap: Number(sub.usage_cap),
          currency: sub.currency as string,
        };
      }
    },

    /** An account's subscriptions with their invoices (newest first). */
    list: (accountId: string) => listFor([accountId]),

    /** For other modules (an agency's dashboard page): the subscriptions of several accounts in a few queries. */
    listForAccounts: (accountIds: string[]) => listFor(accountIds),

    /** The statuses of these accounts' subscriptions that are not canceled: one query, for filters. */
    async statusesOf(accountIds: string[]): Promise<Map<string, string[]>> {
      const out = new Map<string, string[]>();
      if (!accountIds.length) return out;
      const rows = await db.query(
        "SELECT account_id, status FROM payments_subscriptions WHERE account_id = ANY($1) AND status <> 'canceled'",
        [accountIds],
      );
      for (const r of rows) out.set(r.account_id, [...(out.get(r.account_id) ?? []), r.status]);
      return out;
    },

    /**
     * The account's unpaid invoices whose charge failed, oldest failure first, with when it
     * first failed: what an agency looks at before pausing a sub-account, and what the paused
     * account's people pay to resume.
     */
    async overdue(accountId: string) {
      const rows = await db.query(
        `SELECT i.id, i.subscription_id, i.app_id, i.amount, i.currency, i.failed_at, s.agency_org_id,
           s.resale IS NOT NULL AS resold
         FROM payments_invoices i JOIN payments_subscriptions s ON s.id = i.subscription_id
         WHERE i.account_id = $1 AND i.status = 'open' AND i.failed_at IS NOT NULL AND s.status <> 'canceled'
         ORDER BY i.failed_at, i.id`,
        [accountId],
      );
      const names = await apps.namesByIds([...new Set(rows.map((r) => r.app_id as string))]);
      return rows.map((r) => ({
        invoiceId: r.id as string,
        subscriptionId: r.subscription_id as string,
        appId: r.app_id as string,
        appName: names.get(r.app_id) ?? (r.app_id as string),
        amount: Number(r.amount),
        currency: r.currency as string,
        failedAt: new Date(r.failed_at),
        agencyOrgId: r.agency_org_id as string | null,
        resold: Boolean(r.resold),
      }));
    },

    /** The payment link of a past-due subscription's open invoice (renewal paid by hand). */
    async payLink(accountId: string, subscriptionId: string): Promise<string> {
      const sub = await db.maybeOne(
        'SELECT * FROM payments_subscriptions WHERE id = $1 AND account_id = $2',
        [subscriptionId, accountId],
      );
      if (!sub) throw new PlazaError('PLAZA_NOT_FOUND', 'subscription not found');
      const inv = await db.maybeOne(
        "SELECT *, 'App subscription' AS description FROM payments_invoices WHERE subscription_id = $1 AND status = 'open' ORDER BY created_at LIMIT 1",
        [sub.id],
      );
      if (!inv) throw conflict('nothing is due on this subscription');
      return checkoutFor(inv, sub, null);
    },
  };
}

export function describePrice(p: Pricing): string {
  const money = (n: number, c: string) => `${(n / 100).toFixed(2)} ${c}`;
  switch (p.type) {
    case 'free':
      return 'free';
    case 'one_time':
      return `${money(p.amount, p.currency)} once`;
    case 'recurring':
      return `${money(p.amount, p.currency)} / ${p.interval}`;
    default:
      return `${money(p.unitAmount, p.currency)} per ${p.unitName}, at most ${money(p.cappedAmount, p.currency)} a month`;
  }
}

export type Subscriptions = ReturnType<typeof createSubscriptions>;
