import type { PluginContext, Queryable } from '../../server/plugin-api/index.ts';
import type { CallLimit } from './call-limit.ts';
import type { Credits } from './credits.ts';
import type { Metering } from './metering.ts';
import { type Plans, type PlanVersion, periodOf, type Subscription, toSubscription } from './plans.ts';
import { overageAmount } from './pricing.ts';

export interface BillingConfig {
  latenessHours: number;
  invoiceDelayHours?: number;
  reservationTtlSeconds: number;
  cycleIntervalMs: number;
  graceDays: number;
  degradeOrder: string;
  degradeEveryDays: number;
  dunningRetryDays: string;
  trialReminderDays: string;
  issuer: string;
  invoicePrefix: string;
  creditUnitAmount: number;
  creditCurrency: string;
  lowBalanceThreshold: number;
  blockAfterRefusals: number;
  blockMinutes: number;
  spendAlertPerHour: number;
  meteredCallsPerMinute: number;
  appUrl: string;
}

export interface BillingSettings {
  lowBalanceThreshold: number;
  billingEmail: string;
  autoTopUpCredits: number;
}

export type Ctx = PluginContext<BillingConfig, BillingSettings>;

/** What the billing plugin's parts share: the plugin context and its services. */
export interface BillingContext {
  ctx: Ctx;
  metering: Metering;
  credits: Credits;
  plans: Plans;
  /** The abuse limit of the metered routes (call-limit.ts). */
  callLimit: CallLimit;
  subscriptionOf(organizationId: string, q?: Queryable): Promise<Subscription | undefined>;
  usageOf(accountId: string, at: Date): Promise<UsageView>;
}

export interface UsageView {
  accountId: string;
  periodStart: string;
  periodEnd: string;
  currency: string | null;
  meters: Array<{
    meter: string;
    name: string;
    aggregation: 'count' | 'sum' | 'max' | 'unique_count' | 'latest';
    unit: string;
    value: number;
    events: number;
    included: number | null;
    overage: number | null;
  }>;
}

export async function subscriptionOf(ctx: Ctx, organizationId: string, q: Queryable = ctx.db) {
  const row = await q.maybeOne('SELECT * FROM billing_subscriptions WHERE organization_id = $1', [
    organizationId,
  ]);
  return row ? toSubscription(row) : undefined;
}

/** Usage of the period containing `at`, with the plan's included amounts and the overage so far. */
export async function usageView(
  parts: Pick<BillingContext, 'ctx' | 'metering' | 'plans'>,
  accountId: string,
  at: Date,
): Promise<UsageView> {
  const sub = await subscriptionOf(parts.ctx, accountId);
  const period = periodOf(sub, at);
  const [usage, version] = await Promise.all([
    parts.metering.usage(accountId, period.start, period.end),
    sub && sub.status !== 'canceled' ? parts.plans.version(sub.planVersionId) : parts.plans.free(),
  ]);
  return {
    accountId,
    periodStart: period.start.toISOString(),
    periodEnd: period.end.toISOString(),
    currency: version?.currency ?? null,
    meters: usage.map((u) => {
      const { included, overage } = meterLine(version, u.meter, u.value);
      return { ...u, included, overage };
    }),
  };
}

export function meterLine(version: PlanVersion | undefined, meter: string, value: number) {
  const pm = version?.meters.find((m) => m.meter === meter);
  if (!pm) return { included: null, overage: null, units: 0 };
  const units = Math.max(0, value - pm.included);
  return {
    included: pm.included,
    units,
    overage: pm.price ? Number(overageAmount(pm.price, units)) : null,
  };
}
