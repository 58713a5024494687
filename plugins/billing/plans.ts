import { type Db, newId, notFound, type Queryable, z } from '../../server/plugin-api/index.ts';
import { addMonthsUTC, type Interval, periodContaining, startOfDayUTC, stepOf } from './periods.ts';
import { OveragePrice } from './pricing.ts';

const Limit = z.number().int().min(0).max(1e9).nullable().default(null);

export const Features = z.object({
  contacts: Limit.describe('Most contacts; null: no limit'),
  seats: Limit.describe('Most members; null: no limit'),
  installations: Limit.describe('Most installed apps; null: no limit'),
});
export type Features = z.output<typeof Features>;
export const FEATURES = ['contacts', 'seats', 'installations'] as const;

export const PlanMeter = z.object({
  meter: z.string().min(1).max(64),
  included: z.number().int().min(0).max(1e12).default(0),
  /** Null: usage above the included amount is not billed (a soft cap shown to the customer). */
  price: OveragePrice.nullable().default(null),
});

export const PlanVersionInput = z.object({
  currency: z
    .string()
    .regex(/^[A-Za-z]{3}$/, 'an ISO 4217 code such as USD')
    .transform((c) => c.toUpperCase()),
  priceMonth: z.number().int().min(0).max(1e12),
  priceYear: z.number().int().min(0).max(1e12),
  trialDays: z.number().int().min(0).max(365).default(0),
  features: Features.default({ contacts: null, seats: null, installations: null }),
  meters: z.array(PlanMeter).max(50).default([]),
});
export type PlanVersionInput = z.output<typeof PlanVersionInput>;

export interface PlanVersion extends PlanVersionInput {
  id: string;
  planId: string;
  planKey: string;
  planName: string;
  isFree: boolean;
  version: number;
  createdAt: string;
}

export interface Subscription {
  id: string;
  organizationId: string;
  planVersionId: string;
  interval: Interval;
  status: 'trialing' | 'active' | 'past_due' | 'degraded' | 'canceled';
  periodStart: Date;
  periodEnd: Date;
  trialEnd: Date | null;
  trialUsed: boolean;
  cancelAtPeriodEnd: boolean;
  pastDueSince: Date | null;
  retriesDone: number;
  graceUntil: Date | null;
  creditBalance: number;
  /** An agency's own price for its sub-account's fee, for one plan version and interval (resale). */
  resale: { price: number; planVersionId: string; interval: Interval; agencyId: string } | null;
}

const toVersion = (r: any): PlanVersion => ({
  id: r.id,
  planId: r.plan_id,
  planKey: r.key,
  planName: r.name,
  isFree: r.is_free,
  version: r.version,
  currency: r.currency,
  priceMonth: Number(r.price_month),
  priceYear: Number(r.price_year),
  trialDays: r.trial_days,
  features: r.features,
  meters: r.meters,
  createdAt: new Date(r.created_at).toISOString(),
});

export const toSubscription = (r: any): Subscription => ({
  id: r.id,
  organizationId: r.organization_id,
  planVersionId: r.plan_version_id,
  interval: r.billing_interval,
  status: r.status,
  periodStart: new Date(r.period_start),
  periodEnd: new Date(r.period_end),
  trialEnd: r.trial_end && new Date(r.trial_end),
  trialUsed: r.trial_used,
  cancelAtPeriodEnd: r.cancel_at_period_end,
  pastDueSince: r.past_due_since && new Date(r.past_due_since),
  retriesDone: r.retries_done,
  graceUntil: r.grace_until && new Date(r.grace_until),
  creditBalance: Number(r.credit_balance),
  resale:
    r.resale_price == null
      ? null
      : {
          price: Number(r.resale_price),
          planVersionId: r.resale_plan_version_id,
          interval: r.resale_interval,
          agencyId: r.resale_agency_id,
        },
});

const VERSION_SELECT = `SELECT v.*, p.key, p.name, p.is_free FROM billing_plan_versions v JOIN billing_plans p ON p.id = v.plan_id`;

/** Plans (operator) and their immutable versions. */
export function createPlans(db: Db) {
  async function create(input: { key: string; name: string; isFree: boolean } & PlanVersionInput) {
    return db.transaction(async (tx) => {
      const plan = await tx.maybeOne(
        'INSERT INTO billing_plans (id, key, name, is_free) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id',
        [newId('plan'), input.key, input.name, input.isFree],
      );
      if (!plan) return undefined;
      return addVersion(tx, plan.id, input);
    });
  }

  async function addVersion(q: Queryable, planId: string, input: PlanVersionInput): Promise<PlanVersion> {
    const id = newId('plv');
    await q.query(
      `INSERT INTO billing_plan_versions (id, plan_id, version, currency, price_month, price_year, trial_days, features, meters)
       SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5, $6, $7, $8 FROM billing_plan_versions WHERE plan_id = $2`,
      [
        id,
        planId,
        input.currency,
        input.priceMonth,
        input.priceYear,
        input.trialDays,
        JSON.stringify(input.features),
        JSON.stringify(input.meters),
      ],
    );
    return version(id, q);
  }

  async function newVersion(planId: string, input: PlanVersionInput) {
    return db.transaction(async (tx) => {
      // One version number at a time per plan.
      const plan = await tx.maybeOne('SELECT id FROM billing_plans WHERE id = $1 FOR UPDATE', [planId]);
      if (!plan) throw notFound('plan');
      return addVersion(tx, planId, input);
    });
  }

  async function version(id: string, q: Queryable = db): Promise<PlanVersion> {
    const row = await q.maybeOne(`${VERSION_SELECT} WHERE v.id = $1`, [id]);
    if (!row) throw notFound('plan version');
    return toVersion(row);
  }

  /** The latest version of each plan (what new subscribers get), cheapest first. */
  async function list(q: Queryable = db): Promise<PlanVersion[]> {
    const rows = await q.query(
      `${VERSION_SELECT} WHERE v.version = (SELECT max(version) FROM billing_plan_versions w WHERE w.plan_id = v.plan_id)
        ORDER BY v.price_month, p.key`,
    );
    return rows.map(toVersion);
  }

  async function current(planIdOrKey: string, q: Queryable = db): Promise<PlanVersion | undefined> {
    return (await list(q)).find((v) => v.planId === planIdOrKey || v.planKey === planIdOrKey);
  }

  async function versions(planId: string): Promise<PlanVersion[]> {
    return (await db.query(`${VERSION_SELECT} WHERE v.plan_id = $1 ORDER BY v.version DESC`, [planId])).map(
      toVersion,
    );
  }

  const free = async (q: Queryable = db) => (await list(q)).find((v) => v.isFree);

  return { create, newVersion, version, list, current, versions, free };
}

export type Plans = ReturnType<typeof createPlans>;

/** The subscription's period that contains `at` (the current one when `at` is inside it). */
export function periodOf(sub: Subscription | undefined, at: Date) {
  if (!sub) return periodContaining(new Date(Date.UTC(2000, 0, 1)), 'month', at);
  if (at >= sub.periodStart && at < sub.periodEnd) return { start: sub.periodStart, end: sub.periodEnd };
  return periodContaining(sub.periodStart, sub.interval, at);
}

/** A new period of `interval` starting on `from`'s UTC day. */
export function firstPeriod(from: Date, interval: Interval) {
  const start = startOfDayUTC(from);
  return { start, end: addMonthsUTC(start, stepOf(interval)) };
}

export const priceOf = (v: PlanVersion, interval: Interval) =>
  interval === 'year' ? v.priceYear : v.priceMonth;

/**
 * The fee the organization is billed per period: its agency's price while the
 * subscription is on the plan version and interval the agency priced, else the plan's.
 */
export const feeOf = (sub: Subscription | undefined, v: PlanVersion, interval: Interval) =>
  sub?.resale && sub.resale.planVersionId === v.id && sub.resale.interval === interval
    ? sub.resale.price
    : priceOf(v, interval);
