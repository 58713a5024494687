import {
  type Actor,
  invalid,
  newId,
  PlazaError,
  type Queryable,
  type Tx,
} from '../../server/plugin-api/index.ts';
import type { BillingContext } from './context.ts';
import type { Invoices, LineInput } from './invoices.ts';
import { addMonthsUTC, daysBetween, type Interval, startOfDayUTC, stepOf } from './periods.ts';
import {
  type FEATURES,
  feeOf,
  firstPeriod,
  type PlanVersion,
  priceOf,
  type Subscription,
  toSubscription,
} from './plans.ts';
import { formatMoney, proration } from './pricing.ts';

const DAY = 86_400_000;

export interface ChangePreview {
  plan: string;
  interval: Interval;
  kind: 'trial' | 'new' | 'change' | 'same';
  periodStart: string;
  periodEnd: string;
  currency: string;
  lines: Array<{ kind: LineInput['kind']; description: string; amount: number }>;
  /** Charged now (0 when nothing is due or the change is paid by a credit). */
  dueNow: number;
  /** What the change leaves as a credit for the next invoices. */
  creditCarried: number;
}

/**
 * Subscriptions: subscribe, change plan with proration (previewed first),
 * cancel at period end, resume; renewals, trial ends, dunning and
 * degradation run in `cycle`, a recurring job.
 */
export function createSubscriptions(b: BillingContext, invoices: Invoices) {
  const { ctx, plans } = b;
  const retryDays = ctx.config.dunningRetryDays.split(',').map(Number);
  const reminderDays = ctx.config.trialReminderDays.split(',').map(Number);

  async function lock(tx: Tx, orgId: string): Promise<Subscription | undefined> {
    const row = await tx.maybeOne(
      'SELECT * FROM billing_subscriptions WHERE organization_id = $1 FOR UPDATE',
      [orgId],
    );
    return row ? toSubscription(row) : undefined;
  }

  /** What choosing `planKey` now would do, computed the same way `change` does it. */
  async function plan(
    tx: Tx,
    orgId: string,
    input: { plan: string; interval: Interval },
    now = new Date(),
  ): Promise<{ preview: ChangePreview; version: PlanVersion; sub: Subscription | undefined }> {
    const version = await plans.current(input.plan, tx);
    if (!version) throw invalid('body.plan', `no plan "${input.plan}"`);
    const sub = await lock(tx, orgId);
    const live = sub && sub.status !== 'canceled' ? sub : undefined;
    const price = priceOf(version, input.interval);
    const base = { plan: version.planKey, interval: input.interval, currency: version.currency };
    if (!live) {
      const trial = version.trialDays > 0 && price > 0 && !sub?.trialUsed;
      const start = startOfDayUTC(now);
      const end = trial
        ? new Date(start.getTime() + version.trialDays * DAY)
        : addMonthsUTC(start, stepOf(input.interval));
      const lines = trial || price === 0 ? [] : [fee(version, input.interval, start, end, price)];
      return {
        version,
        sub,
        preview: {
          ...base,
          kind: trial ? 'trial' : 'new',
          periodStart: start.toISOString(),
          periodEnd: end.toISOString(),
          lines,
          dueNow: trial ? 0 : price,
          creditCarried: 0,
        },
      };
    }
    const current = await plans.version(live.planVersionId, tx);
    if (current.currency !== version.currency)
      throw ctx.error(
        'PLAZA_BILLING_PLAN_UNAVAILABLE',
        `the plan is billed in ${version.currency}, yours in ${current.currency}`,
      );
    const same = current.id === version.id && live.interval === input.interval;
    if (same || live.status === 'trialing') {
      // A trial keeps its end on another plan; the first invoice comes when it ends.
      return {
        version,
        sub,
        preview: {
          ...base,
          kind: same ? 'same' : 'trial',
          periodStart: live.periodStart.toISOString(),
          periodEnd: live.periodEnd.toISOString(),
          lines: [],
          dueNow: 0,
          creditCarried: 0,
        },
      };
    }
    const today = startOfDayUTC(now);
    const total = daysBetween(live.periodStart, live.periodEnd);
    const remaining = Math.max(0, daysBetween(today, live.periodEnd));
    const oldPrice = feeOf(live, current, live.interval);
    let start = live.periodStart;
    let end = live.periodEnd;
    let charge: bigint;
    const credit = proration(oldPrice, 0, remaining, total).credit;
    if (live.interval === input.interval) {
      charge = proration(0, price, remaining, total).charge;
    } else {
      // Another interval starts a new period today at the full new price.
      start = today;
      end = addMonthsUTC(today, stepOf(input.interval));
      charge = BigInt(price);
    }
    const lines = [
      {
        kind: 'proration' as const,
        description: `Unused time on ${current.planName} (${remaining} of ${total} days)`,
        amount: -Number(credit),
      },
      {
        kind: 'proration' as const,
        description:
          live.interval === input.interval
            ? `${version.planName} for the rest of the period (${remaining} of ${total} days)`
            : `${version.planName}, ${input.interval}ly, from today`,
        amount: Number(charge),
      },
    ];
    const net = charge - credit;
    if (net < 0n)
      lines.push({
        kind: 'proration',
        description: 'Kept as a credit for your next invoices',
        amount: -Number(net),
      });
    return {
      version,
      sub,
      preview: {
        ...base,
        kind: 'change',
        periodStart: start.toISOString(),
        periodEnd: end.toISOString(),
        lines,
        dueNow: net > 0n ? Number(net) : 0,
        creditCarried: net < 0n ? -Number(net) : 0,
      },
    };
  }

  /** The fee line; `amount` is what this organization pays (an agency's price for its sub-account). */
  function fee(
    v: PlanVersion,
    interval: Interval,
    start: Date,
    end: Date,
    amount: number,
  ): ChangePreview['lines'][number] {
    return {
      kind: 'subscription',
      description: `${v.planName}, ${interval}ly, ${start.toISOString().slice(0, 10)} to ${end.toISOString().slice(0, 10)}`,
      amount,
    };
  }

  /** A fee line at an agency's price carries the markup over the plan's price, which is the agency's. */
  function resold(line: ChangePreview['lines'][number], sub: Subscription, v: PlanVersion): LineInput {
    const markup = BigInt(line.amount) - BigInt(priceOf(v, sub.interval));
    return sub.resale && markup > 0n ? { ...line, agency: { id: sub.resale.agencyId, markup } } : line;
  }

  async function preview(orgId: string, input: { plan: string; interval: Interval }) {
    // Read in a transaction that is rolled back: the preview locks like the change, then forgets.
    let out: ChangePreview | undefined;
    await ctx.db
      .transaction(async (tx) => {
        out = (await plan(tx, orgId, input)).preview;
        throw ROLLBACK;
      })
      .catch((err) => {
        if (err !== ROLLBACK) throw err;
      });
    return out!;
  }

  /** Subscribes or changes plan now; the invoice it makes (if any) is charged after commit. */
  async function change(orgId: string, input: { plan: string; interval: Interval }, actor: Actor) {
    const { invoiceId, subscriptionId } = await ctx.db.transaction(async (tx) => {
      const { preview: p, version, sub } = await plan(tx, orgId, input);
      if (p.kind === 'same') return { invoiceId: undefined, subscriptionId: sub!.id };
      const start = new Date(p.periodStart);
      const end = new Date(p.periodEnd);
      let id = sub?.id;
      if (p.kind === 'trial' && sub && sub.status === 'trialing') {
        await tx.query(
          'UPDATE billing_subscriptions SET plan_version_id = $2, billing_interval = $3, updated_at = now() WHERE id = $1',
          [sub.id, version.id, input.interval],
        );
      } else if (p.kind === 'trial' || p.kind === 'new') {
        const status = p.kind === 'trial' ? 'trialing' : 'active';
        const row = await tx.one(
          `INSERT INTO billing_subscriptions (id, organization_id, plan_version_id, billing_interval, status,
             period_start, period_end, trial_end, trial_used)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (organization_id) DO UPDATE SET plan_version_id = excluded.plan_version_id,
             billing_interval = excluded.billing_interval, status = excluded.status,
             period_start = excluded.period_start, period_end = excluded.period_end,
             trial_end = excluded.trial_end, trial_used = billing_subscriptions.trial_used OR excluded.trial_used,
             cancel_at_period_end = false, past_due_since = NULL, retries_done = 0, grace_until = NULL,
             updated_at = now()
           RETURNING id`,
          [
            sub?.id ?? newId('bsub'),
            orgId,
            version.id,
            input.interval,
            status,
            start.toISOString(),
            end.toISOString(),
            p.kind === 'trial' ? end.toISOString() : null,
            p.kind === 'trial',
          ],
        );
        id = row.id;
      } else {
        await tx.query(
          `UPDATE billing_subscriptions SET plan_version_id = $2, billing_interval = $3, period_start = $4,
             period_end = $5, credit_balance = credit_balance + $6, cancel_at_period_end = false, updated_at = now()
           WHERE id = $1`,
          [sub!.id, version.id, input.interval, start.toISOString(), end.toISOString(), p.creditCarried],
        );
      }
      let invoiceId: string | undefined;
      const billed = p.lines.filter((l) => l.amount !== 0 || l.kind === 'subscription');
      if (p.dueNow > 0 || (p.kind === 'change' && billed.length)) {
        invoiceId = await invoices.draft(tx, {
          organizationId: orgId,
          subscriptionId: id!,
          kind: p.kind === 'new' ? 'period' : 'change',
          currency: p.currency,
          periodStart: start,
          periodEnd: end,
          // The carried credit is not taken again on the very invoice that made it.
          lines: p.creditCarried ? p.lines.slice(0, 2) : p.lines,
        });
        if (p.creditCarried)
          await invoices.addLines(tx, invoiceId, [
            {
              kind: 'credit_applied',
              description: 'Kept as a credit for your next invoices',
              amount: p.creditCarried,
            },
          ]);
        await invoices.finalize(tx, invoiceId);
      }
      await ctx.audit.record(tx, {
        organizationId: orgId,
        actor,
        action: 'billing.plan_changed',
        targetType: 'billing_subscription',
        targetId: id!,
        data: { plan: version.planKey, version: version.version, interval: input.interval, kind: p.kind },
      });
      await ctx.events.emit(tx, orgId, 'billing.subscription_changed', {
        subscriptionId: id!,
        plan: version.planKey,
        status:
          p.kind === 'trial' ? 'trialing' : sub?.status === 'canceled' ? 'active' : (sub?.status ?? 'active'),
      });
      return { invoiceId, subscriptionId: id! };
    });
    const charge = invoiceId ? await collect(invoiceId) : undefined;
    return { subscriptionId, invoiceId: invoiceId ?? null, payment: charge ?? null };
  }

  async function setCancel(orgId: string, cancel: boolean, actor: Actor) {
    await ctx.db.transaction(async (tx) => {
      const sub = await lock(tx, orgId);
      if (!sub || sub.status === 'canceled')
        throw ctx.error(
          'PLAZA_BILLING_PLAN_UNAVAILABLE',
          'there is no subscription to change; subscribe again',
        );
      await tx.query(
        'UPDATE billing_subscriptions SET cancel_at_period_end = $2, updated_at = now() WHERE id = $1',
        [sub.id, cancel],
      );
      await ctx.audit.record(tx, {
        organizationId: orgId,
        actor,
        action: cancel ? 'billing.cancel_scheduled' : 'billing.resumed',
        targetType: 'billing_subscription',
        targetId: sub.id,
      });
    });
  }

  /**
   * Charges an open invoice on the saved payment method. Success pays it; a
   * failure puts the subscription past due (grace, then dunning). A port
   * error (provider down) leaves the invoice open for the next retry.
   */
  async function collect(
    invoiceId: string,
    opts: { dunning?: boolean } = {},
  ): Promise<'paid' | 'failed' | 'pending'> {
    const inv = await ctx.db.maybeOne(
      `UPDATE billing_invoices SET payment_attempts = payment_attempts + 1 WHERE id = $1 AND status = 'open'
       RETURNING organization_id, total, currency, number, payment_attempts`,
      [invoiceId],
    );
    if (!inv) return 'pending';
    let result: Awaited<ReturnType<typeof ctx.payments.chargeSavedMethod>>;
    try {
      result = await ctx.payments.chargeSavedMethod({
        organizationId: inv.organization_id,
        amount: BigInt(inv.total),
        currency: inv.currency,
        description: `Invoice ${inv.number}`,
        idempotencyKey: `invoice:${invoiceId}:${inv.payment_attempts}`,
        // Payments books the cash against the invoice's receivable directly.
        settles: { kind: 'customer_receivable', party: inv.organization_id },
      });
    } catch (err) {
      ctx.log.warn({ err, invoiceId }, 'charging an invoice failed before an answer; retried later');
      return 'pending';
    }
    if (result.status === 'succeeded') {
      await paid(invoiceId, result.chargeId, !!result.settles);
      return 'paid';
    }
    if (opts.dunning !== false) await failed(invoiceId, result.failureReason ?? 'declined');
    return 'failed';
  }

  /** An invoice got paid (now, by a retry, or on the payment page): the subscription recovers at once. */
  async function paid(invoiceId: string, chargeId?: string, settled = false) {
    await ctx.db.transaction(async (tx) => {
      const orgId = await invoices.markPaid(tx, invoiceId, { chargeId, settled });
      if (!orgId) return;
      const open = await tx.maybeOne(
        "SELECT 1 FROM billing_invoices WHERE organization_id = $1 AND status = 'open'",
        [orgId],
      );
      if (open) return;
      const sub = await tx.maybeOne(
        `UPDATE billing_subscriptions SET status = 'active', past_due_since = NULL, retries_done = 0, grace_until = NULL,
           updated_at = now() WHERE organization_id = $1 AND status IN ('past_due', 'degraded') RETURNING *`,
        [orgId],
      );
      if (sub) await changed(tx, toSubscription(sub));
    });
  }

  async function failed(invoiceId: string, reason: string) {
    const orgId = await ctx.db.transaction(async (tx) => {
      const inv = await tx.maybeOne(
        "UPDATE billing_invoices SET last_failure = $2 WHERE id = $1 AND status = 'open' RETURNING organization_id, kind",
        [invoiceId, reason],
      );
      if (!inv) return undefined;
      const sub = await tx.maybeOne(
        `UPDATE billing_subscriptions SET status = 'past_due', past_due_since = now(), retries_done = 0,
           grace_until = now() + make_interval(days => $2), updated_at = now()
         WHERE organization_id = $1 AND status = 'active' RETURNING *`,
        [inv.organization_id, ctx.config.graceDays],
      );
      if (sub) await changed(tx, toSubscription(sub));
      return inv.organization_id as string;
    });
    if (orgId)
      await notify(orgId, `payment-failed:${invoiceId}:${reason}`, 'billing/payment-failed', { reason });
  }

  async function changed(tx: Tx, sub: Subscription) {
    const v = await plans.version(sub.planVersionId, tx);
    await ctx.events.emit(tx, sub.organizationId, 'billing.subscription_changed', {
      subscriptionId: sub.id,
      plan: v.planKey,
      status: sub.status,
    });
  }

  /** Emails the organization's owners and admins (or its billing address), once per `key`. */
  async function notify(orgId: string, key: string, template: string, data: Record<string, unknown>) {
    const fresh = await ctx.db.maybeOne(
      'INSERT INTO billing_notices (organization_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING key',
      [orgId, key],
    );
    if (!fresh) return;
    try {
      const [org, members, settings] = await Promise.all([
        ctx.orgs.get(orgId),
        ctx.orgs.members(orgId),
        ctx.settings.get(orgId),
      ]);
      const to = settings.billingEmail
        ? [settings.billingEmail]
        : members.filter((m) => m.role !== 'member').map((m) => m.email);
      for (const email of to)
        await ctx.mail.send(template, {
          to: email,
          organization: org.name,
          organizationId: orgId,
          // The mailer gives templates the base URL (an agency's own domain when branded).
          path: `/orgs/${orgId}/x/billing/plan`,
          ...data,
        });
    } catch (err) {
      // A reminder that cannot be sent must not stop renewals or dunning; it is logged.
      ctx.log.warn({ err, orgId, template }, 'billing email not sent');
    }
  }

  /** One pass of the billing cycle; every step is idempotent, so a retried pass does no harm. */
  async function cycle(now = new Date()) {
    await renewals(now);
    for (const id of await invoices.due())
      await isolated('finalize', id, async () => {
        if (await ctx.db.transaction((tx) => invoices.finalize(tx, id))) await collect(id);
      });
    await dunning(now);
    await trialReminders(now);
  }

  /** One subscriber's trouble must not hold up the others: logged, and looked at again next pass. */
  async function isolated(step: string, id: string, fn: () => Promise<unknown>) {
    try {
      await fn();
    } catch (err) {
      ctx.log.error({ err, step, id }, 'billing cycle step failed; retried next pass');
    }
  }

  async function renewals(now: Date) {
    const due = await ctx.db.query<{ id: string }>(
      `SELECT id FROM billing_subscriptions WHERE period_end <= $1 AND status <> 'canceled' ORDER BY period_end LIMIT 100`,
      [now.toISOString()],
    );
    for (const { id } of due) await isolated('renewal', id, () => renew(id, now));
  }

  async function renew(id: string, now: Date) {
    const charge = await ctx.db.transaction(async (tx) => {
      const row = await tx.maybeOne(
        "SELECT * FROM billing_subscriptions WHERE id = $1 AND period_end <= $2 AND status <> 'canceled' FOR UPDATE SKIP LOCKED",
        [id, now.toISOString()],
      );
      if (!row) return undefined;
      const sub = toSubscription(row);
      const version = await plans.version(sub.planVersionId, tx);
      const free = await plans.free(tx);
      const start = sub.periodEnd;
      if (sub.cancelAtPeriodEnd) {
        // The last period's usage is still billed; then the free plan (or nothing).
        await usageOnlyInvoice(tx, sub, version);
        if (free) await move(tx, sub, free, 'month', 'active', start);
        else {
          await tx.query(
            "UPDATE billing_subscriptions SET status = 'canceled', updated_at = now() WHERE id = $1",
            [sub.id],
          );
          await changed(tx, { ...sub, status: 'canceled' });
        }
        return undefined;
      }
      const end = addMonthsUTC(start, stepOf(sub.interval));
      const wasTrial = sub.status === 'trialing';
      await tx.query(
        `UPDATE billing_subscriptions SET period_start = $2, period_end = $3, trial_end = NULL,
           status = CASE WHEN status = 'trialing' THEN 'active' ELSE status END, updated_at = now() WHERE id = $1`,
        [sub.id, start.toISOString(), end.toISOString()],
      );
      const price = feeOf(sub, version, sub.interval);
      // Nothing to bill (a free plan without priced meters, or a free trial ending into a free
      // plan): no invoice, so free subscribers do not get a numbered 0.00 invoice every month.
      const billsUsage = !wasTrial && version.meters.some((m) => m.price);
      if (!price && !billsUsage) {
        if (wasTrial) await changed(tx, { ...sub, status: 'active' });
        return undefined;
      }
      const invoiceId = await invoices.draft(tx, {
        organizationId: sub.organizationId,
        subscriptionId: sub.id,
        kind: 'period',
        currency: version.currency,
        periodStart: start,
        periodEnd: end,
        // A trial's usage is not billed.
        usage: wasTrial ? null : { start: sub.periodStart, end: sub.periodEnd, planVersionId: version.id },
        lines: price ? [resold(fee(version, sub.interval, start, end, price), sub, version)] : [],
      });
      if (wasTrial) {
        await invoices.finalize(tx, invoiceId);
        await changed(tx, { ...sub, status: 'active' });
        return { invoiceId, trial: sub, free };
      }
      return undefined;
    });
    // A trial ends into the paid plan if its first invoice is paid, else into the free plan.
    if (charge) {
      const outcome = await collect(charge.invoiceId, { dunning: !charge.free });
      if (outcome === 'failed' && charge.free) {
        await ctx.db.transaction(async (tx) => {
          const sub = await lock(tx, charge.trial.organizationId);
          if (!sub) return;
          await tx.query("UPDATE billing_invoices SET status = 'void' WHERE id = $1 AND status = 'open'", [
            charge.invoiceId,
          ]);
          await move(tx, sub, charge.free!, 'month', 'active', sub.periodStart);
        });
      }
    }
  }

  async function usageOnlyInvoice(tx: Tx, sub: Subscription, version: PlanVersion) {
    if (sub.status === 'trialing' || !version.meters.some((m) => m.price)) return;
    await invoices.draft(tx, {
      organizationId: sub.organizationId,
      subscriptionId: sub.id,
      kind: 'period',
      currency: version.currency,
      periodStart: sub.periodEnd,
      periodEnd: sub.periodEnd,
      usage: { start: sub.periodStart, end: sub.periodEnd, planVersionId: version.id },
      lines: [],
    });
  }

  async function move(
    tx: Tx,
    sub: Subscription,
    to: PlanVersion,
    interval: Interval,
    status: 'active',
    from: Date,
  ) {
    const p = firstPeriod(from, interval);
    await tx.query(
      `UPDATE billing_subscriptions SET plan_version_id = $2, billing_interval = $3, status = $4, period_start = $5,
         period_end = $6, trial_end = NULL, cancel_at_period_end = false, past_due_since = NULL, retries_done = 0,
         grace_until = NULL, updated_at = now() WHERE id = $1`,
      [sub.id, to.id, interval, status, p.start.toISOString(), p.end.toISOString()],
    );
    await changed(tx, { ...sub, planVersionId: to.id, status });
  }

  async function dunning(now: Date) {
    const subs = (
      await ctx.db.query(
        "SELECT * FROM billing_subscriptions WHERE status IN ('past_due', 'degraded') LIMIT 500",
      )
    ).map(toSubscription);
    for (const sub of subs) {
      if (!sub.pastDueSince) continue;
      const nextRetry = retryDays[sub.retriesDone];
      if (nextRetry !== undefined && now.getTime() >= sub.pastDueSince.getTime() + nextRetry * DAY) {
        const bumped = await ctx.db.maybeOne(
          'UPDATE billing_subscriptions SET retries_done = retries_done + 1 WHERE id = $1 AND retries_done = $2 RETURNING id',
          [sub.id, sub.retriesDone],
        );
        if (bumped) {
          const open = await ctx.db.query<{ id: string }>(
            "SELECT id FROM billing_invoices WHERE organization_id = $1 AND status = 'open' ORDER BY created_at",
            [sub.organizationId],
          );
          let failedAgain = false;
          for (const inv of open) if ((await collect(inv.id)) === 'failed') failedAgain = true;
          if (failedAgain)
            await notify(
              sub.organizationId,
              `retry:${sub.pastDueSince.toISOString()}:${sub.retriesDone + 1}`,
              'billing/payment-retry-failed',
              {
                attempt: sub.retriesDone + 1,
                graceUntil: sub.graceUntil?.toISOString().slice(0, 10),
              },
            );
        }
      }
      if (sub.status === 'past_due' && sub.graceUntil && now >= sub.graceUntil) {
        const degraded = await ctx.db.transaction(async (tx) => {
          const row = await tx.maybeOne(
            "UPDATE billing_subscriptions SET status = 'degraded', updated_at = now() WHERE id = $1 AND status = 'past_due' RETURNING *",
            [sub.id],
          );
          if (row) await changed(tx, toSubscription(row));
          return !!row;
        });
        if (degraded)
          await notify(
            sub.organizationId,
            `degraded:${sub.pastDueSince.toISOString()}`,
            'billing/degraded',
            {},
          );
      }
    }
  }

  async function trialReminders(now: Date) {
    const subs = (
      await ctx.db.query(
        "SELECT * FROM billing_subscriptions WHERE status = 'trialing' AND trial_end <= $1",
        [new Date(now.getTime() + Math.max(...reminderDays) * DAY).toISOString()],
      )
    ).map(toSubscription);
    for (const sub of subs) {
      const left = Math.ceil((sub.trialEnd!.getTime() - now.getTime()) / DAY);
      // The reminder for the smallest threshold reached; earlier ones are not sent late.
      const d = reminderDays.filter((r) => left <= r).sort((a, b) => a - b)[0];
      if (d === undefined) continue;
      const v = await plans.version(sub.planVersionId);
      await notify(sub.organizationId, `trial:${sub.trialEnd!.toISOString()}:${d}`, 'billing/trial-ending', {
        days: d,
        plan: v.planName,
        price: formatMoney(feeOf(sub, v, sub.interval), v.currency),
        endsAt: sub.trialEnd!.toISOString().slice(0, 10),
      });
    }
  }

  /** The operator gives a trial more days (1-90). */
  async function extendTrial(orgId: string, days: number, actor: Actor) {
    return ctx.db.transaction(async (tx) => {
      const sub = await lock(tx, orgId);
      if (sub?.status !== 'trialing')
        throw ctx.error('PLAZA_BILLING_PLAN_UNAVAILABLE', 'the organization is not in a trial');
      const row = await tx.one(
        `UPDATE billing_subscriptions SET trial_end = trial_end + make_interval(days => $2),
           period_end = period_end + make_interval(days => $2), updated_at = now() WHERE id = $1 RETURNING *`,
        [sub.id, days],
      );
      await ctx.audit.record(tx, {
        organizationId: orgId,
        actor,
        action: 'billing.trial_extended',
        targetType: 'billing_subscription',
        targetId: sub.id,
        data: { days },
      });
      return toSubscription(row);
    });
  }

  /**
   * Agency rebilling: an owner or admin of the sub-account's agency sets the fee the sub-account is
   * billed from its next period on (null: the plan's price again). The agency pays the platform's
   * price, so its own is never below it. It holds for the current plan version and interval only.
   */
  async function setResalePrice(orgId: string, price: number | null, actor: Actor) {
    const org = await ctx.orgs.get(orgId);
    if (org.kind !== 'account' || !org.parentId)
      throw ctx.error(
        'PLAZA_BILLING_PLAN_UNAVAILABLE',
        'only an agency sub-account can have an agency price',
      );
    const agencyAdmins = (await ctx.orgs.members(org.parentId)).filter(
      (m) => m.role === 'owner' || m.role === 'admin',
    );
    if (!agencyAdmins.some((m) => m.userId === actor.userId))
      throw new PlazaError(
        'PLAZA_FORBIDDEN',
        "only an owner or admin of the sub-account's agency sets its price",
      );
    return ctx.db.transaction(async (tx) => {
      const sub = await lock(tx, orgId);
      if (!sub || sub.status === 'canceled')
        throw ctx.error('PLAZA_BILLING_PLAN_UNAVAILABLE', 'subscribe the sub-account to a plan first');
      const version = await plans.version(sub.planVersionId, tx);
      const platformPrice = priceOf(version, sub.interval);
      if (price !== null && price < platformPrice)
        throw invalid(
          'body.price',
          `at least the platform's price of ${formatMoney(platformPrice, version.currency)} per ${sub.interval}`,
        );
      const row = await tx.one(
        `UPDATE billing_subscriptions SET resale_price = $2, resale_plan_version_id = $3, resale_interval = $4,
           resale_agency_id = $5, updated_at = now() WHERE id = $1 RETURNING *`,
        price === null
          ? [sub.id, null, null, null, null]
          : [sub.id, price, version.id, sub.interval, org.parentId],
      );
      await ctx.audit.record(tx, {
        organizationId: orgId,
        actor,
        action: 'billing.resale_price_set',
        targetType: 'billing_subscription',
        targetId: sub.id,
        data: { price, platformPrice, agencyId: org.parentId },
      });
      return { subscription: toSubscription(row), platformPrice, currency: version.currency };
    });
  }

  /**
   * `organization.limits`: a create beyond the plan's limit (or, when the
   * subscription is degraded, beyond the free plan's) is refused with 402
   * PLAZA_ENTITLEMENT naming the feature and the cheapest plan that allows it.
   * Data above the limit is never touched: only new creates are refused.
   */
  /**
   * Whether `feature` has degraded yet: features fall to the free plan in `degradeOrder`, all at
   * once (`degradeEveryDays` 0) or one more every `degradeEveryDays` days after the grace period.
   */
  function isDegraded(sub: Subscription, feature: string): boolean {
    const order = ctx.config.degradeOrder.split(',');
    const rank = order.indexOf(feature);
    if (rank < 0) return false;
    if (!ctx.config.degradeEveryDays || !sub.graceUntil) return true;
    const days = Math.floor((Date.now() - sub.graceUntil.getTime()) / DAY);
    return rank <= Math.floor(days / ctx.config.degradeEveryDays);
  }

  async function checkLimit(input: {
    organizationId: string;
    resource: (typeof FEATURES)[number];
    adding: number;
    current: number;
    q: Queryable;
  }) {
    const sub = await b.subscriptionOf(input.organizationId, input.q);
    const free = await plans.free(input.q);
    const degraded = sub?.status === 'degraded' && isDegraded(sub, input.resource);
    const version =
      sub && sub.status !== 'canceled' && !degraded ? await plans.version(sub.planVersionId, input.q) : free;
    if (!version) return;
    const limit = version.features[input.resource];
    if (limit === null || input.current + input.adding <= limit) return;
    const wanted = input.current + input.adding;
    const unlock = (await plans.list(input.q)).find((v) => {
      const l = v.features[input.resource];
      return l === null || l >= wanted;
    });
    throw new PlazaError(
      'PLAZA_ENTITLEMENT',
      degraded
        ? `payment is overdue: ${input.resource} are limited to the ${version.planName} plan's ${limit} until the open invoice is paid`
        : `the ${version.planName} plan allows ${limit} ${input.resource}${unlock ? `; ${unlock.planName} allows more` : ''}`,
      {
        extra: {
          feature: input.resource,
          limit,
          current: input.current,
          plan: version.planKey,
          unlockedBy:
            degraded && sub
              ? (await plans.version(sub.planVersionId, input.q)).planKey
              : (unlock?.planKey ?? null),
          reason: degraded ? 'degraded' : 'plan_limit',
        },
      },
    );
  }

  return {
    preview,
    change,
    setCancel,
    collect,
    paid,
    failed,
    cycle,
    extendTrial,
    setResalePrice,
    checkLimit,
    notify,
  };
}

export type Subscriptions = ReturnType<typeof createSubscriptions>;

const ROLLBACK = Symbol('rollback');
