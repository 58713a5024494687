import type { Db, Tx } from '../../db/index.ts';
import type { PlazaEvent } from '../events/index.ts';

/** Event types the rollups are made of. */
export const ROLLUP_EVENT_TYPES = [
  'app.installed',
  'app.uninstalled',
  'organization.created',
  'payment.succeeded',
  'payment.failed',
  'payment.refunded',
  'payout.created',
  'payout.paid',
  'payout.failed',
  'payout.held',
  'trial.started',
  'trial.ended',
];

/** What a payout event says about the payout's state (the payouts chart's series). */
const PAYOUT_STATE: Record<string, string> = {
  'payout.created': 'in_transit',
  'payout.paid': 'paid',
  'payout.failed': 'failed',
  'payout.held': 'held',
};

const dayOf = (iso: string) => iso.slice(0, 10);
const monthOf = (iso: string) => `${iso.slice(0, 7)}-01`;
/** Monday of the ISO week of a YYYY-MM-DD day (install cohorts are weekly). */
export function weekOf(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  return d.toISOString().slice(0, 10);
}
const daysBetween = (a: string, b: string) =>
  Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);

/** Sums numbers into a map keyed by the joined key parts. */
class Sums<N extends number> {
  readonly rows = new Map<string, { key: string[]; values: number[] }>();
  private readonly width: N;
  constructor(width: N) {
    this.width = width;
  }
  add(key: string[], ...values: number[]) {
    const k = key.join('\u0000');
    let row = this.rows.get(k);
    if (!row) {
      row = { key, values: new Array(this.width).fill(0) };
      this.rows.set(k, row);
    }
    values.forEach((v, i) => {
      row.values[i] += v;
    });
  }
  /** Column arrays: key parts first, then values; sorted by key so concurrent upserts lock rows in one order. */
  columns(): unknown[][] {
    const list = [...this.rows.values()].sort((a, b) =>
      a.key.join('\u0000') < b.key.join('\u0000') ? -1 : 1,
    );
    const width = list[0]?.key.length ?? 0;
    return [
      ...Array.from({ length: width }, (_, i) => list.map((r) => r.key[i])),
      ...Array.from({ length: this.width }, (_, i) => list.map((r) => r.values[i])),
    ];
  }
  get size() {
    return this.rows.size;
  }
}

const p = (e: PlazaEvent) => e.payload as Record<string, any>;

/**
 * Applies committed events to the rollups, each exactly once: in one
 * transaction the event ids are recorded in `analytics_seen` and only the ones
 * not seen before are counted, so a redelivered batch (at-least-once) changes
 * nothing. Events of one batch are summed in memory and written with one
 * statement per table.
 */
export async function ingestEvents(db: Db, events: PlazaEvent[]): Promise<number> {
  const wanted = events.filter((e) => ROLLUP_EVENT_TYPES.includes(e.type));
  if (wanted.length === 0) return 0;
  return db.transaction(async (tx) => {
    const fresh = await tx.query<{ event_id: string }>(
      `INSERT INTO analytics_seen (event_id) SELECT unnest($1::text[]) ORDER BY 1
       ON CONFLICT DO NOTHING RETURNING event_id`,
      [wanted.map((e) => e.id)],
    );
    const ids = new Set(fresh.map((r) => r.event_id));
    const list = wanted.filter((e) => ids.has(e.id)).sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
    if (list.length) await apply(tx, list);
    return list.length;
  });
}

async function apply(tx: Tx, list: PlazaEvent[]) {
  const appDays = new Sums(2); // installs, uninstalls
  const reasons = new Sums(1);
  const revenue = new Sums(4); // gross, refunded, payments, failures
  const payments: Array<{ sub: string; app: string; month: string; currency: string; amount: number }> = [];
  const platform = new Sums(2);
  const payouts = new Sums(2); // count, amount
  const cohorts = new Sums(1);
  const trials = new Sums(3); // started, ended, converted
  const installed: Array<[string, string, string, string]> = [];
  const uninstalled = new Map<string, string>();
  const uninstalledAccounts = new Map<string, string[]>();
  const subAccounts = new Map<string, [string, string, string, string]>();

  for (const e of list) {
    const day = dayOf(e.createdAt);
    const d = p(e);
    switch (e.type) {
      case 'app.installed':
        appDays.add([d.appId, day], 1, 0);
        platform.add([day], 1, 0);
        installed.push([d.installationId, d.appId, d.accountId, day]);
        break;
      case 'app.uninstalled':
        appDays.add([d.appId, day], 0, 1);
        platform.add([day], 0, 1);
        reasons.add([d.appId, day, d.reason ?? 'unknown'], 1);
        uninstalled.set(d.installationId, day);
        uninstalledAccounts.set(d.accountId, [...(uninstalledAccounts.get(d.accountId) ?? []), day]);
        break;
      case 'organization.created':
        if (d.kind === 'account' && d.parentId)
          subAccounts.set(d.organizationId, [d.organizationId, d.parentId, d.name, day]);
        break;
      case 'payment.succeeded':
        revenue.add([d.appId, day, d.currency], d.amount, 0, 1, 0);
        if (d.kind === 'initial' || d.kind === 'renewal')
          payments.push({
            sub: d.subscriptionId,
            app: d.appId,
            month: monthOf(e.createdAt),
            currency: d.currency,
            amount: d.amount,
          });
        break;
      case 'payment.failed':
        revenue.add([d.appId, day, d.currency], 0, 0, 0, 1);
        break;
      case 'payment.refunded':
        revenue.add([d.appId, day, d.currency], 0, d.amount, 0, 0);
        break;
      case 'trial.started':
        trials.add([d.appId, day], 1, 0, 0);
        break;
      case 'trial.ended':
        trials.add([d.appId, day], 0, 1, d.converted ? 1 : 0);
        break;
      default:
        if (PAYOUT_STATE[e.type])
          payouts.add([d.partnerOrgId, day, PAYOUT_STATE[e.type], d.currency], 1, d.amount);
    }
  }

  if (subAccounts.size)
    await tx.query(
      `INSERT INTO analytics_sub_accounts AS s (account_id, agency_id, name, created_on)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[]) ORDER BY 1
       ON CONFLICT (account_id) DO UPDATE SET created_on = least(s.created_on, EXCLUDED.created_on)`,
      [0, 1, 2, 3].map((i) => [...subAccounts.values()].map((r) => r[i])),
    );
  // Installs per sub-account: only accounts that have a parent are counted per account.
  const touched = [...new Set([...installed.map((r) => r[2]), ...[...uninstalledAccounts.keys()]])];
  if (touched.length) {
    const subs = new Set(
      (
        await tx.query<{ account_id: string }>(
          'SELECT account_id FROM analytics_sub_accounts WHERE account_id = ANY($1)',
          [touched],
        )
      ).map((r) => r.account_id),
    );
    const accountDays = new Sums(2);
    for (const [, , account, day] of installed) if (subs.has(account)) accountDays.add([account, day], 1, 0);
    for (const [account, days] of uninstalledAccounts)
      for (const day of days) if (subs.has(account)) accountDays.add([account, day], 0, 1);
    if (accountDays.size)
      await tx.query(
        `INSERT INTO analytics_account_days AS t (account_id, day, installs, uninstalls)
         SELECT * FROM unnest($1::text[], $2::date[], $3::int[], $4::int[])
         ON CONFLICT (account_id, day) DO UPDATE
           SET installs = t.installs + EXCLUDED.installs, uninstalls = t.uninstalls + EXCLUDED.uninstalls`,
        accountDays.columns(),
      );
  }
  if (platform.size)
    await tx.query(
      `INSERT INTO analytics_platform_days AS t (day, installs, uninstalls)
       SELECT * FROM unnest($1::date[], $2::int[], $3::int[])
       ON CONFLICT (day) DO UPDATE
         SET installs = t.installs + EXCLUDED.installs, uninstalls = t.uninstalls + EXCLUDED.uninstalls`,
      platform.columns(),
    );
  if (installed.length) {
    const rows = await tx.query<{ app_id: string; installed_on: string }>(
      `INSERT INTO analytics_installations (installation_id, app_id, account_id, installed_on)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[]) ORDER BY 1
       ON CONFLICT (installation_id) DO NOTHING
       RETURNING app_id, to_char(installed_on, 'YYYY-MM-DD') AS installed_on`,
      [0, 1, 2, 3].map((i) => installed.map((r) => r[i])),
    );
    for (const r of rows) cohorts.add([r.app_id, weekOf(r.installed_on), '-1'], 1);
  }
  if (uninstalled.size) {
    // Cohort retention: the week after its cohort's start in which an installation closed.
    const rows = await tx.query<{ app_id: string; installed_on: string; uninstalled_on: string }>(
      `UPDATE analytics_installations i SET uninstalled_on = u.day
       FROM unnest($1::text[], $2::date[]) AS u(id, day)
       WHERE i.installation_id = u.id AND i.uninstalled_on IS NULL
       RETURNING i.app_id, to_char(i.installed_on, 'YYYY-MM-DD') AS installed_on,
         to_char(i.uninstalled_on, 'YYYY-MM-DD') AS uninstalled_on`,
      [[...uninstalled.keys()], [...uninstalled.values()]],
    );
    for (const r of rows) {
      const cohort = weekOf(r.installed_on);
      cohorts.add([r.app_id, cohort, String(Math.floor(daysBetween(cohort, r.uninstalled_on) / 7))], 1);
    }
  }
  if (appDays.size)
    await tx.query(
      `INSERT INTO analytics_app_days AS t (app_id, day, installs, uninstalls)
       SELECT * FROM unnest($1::text[], $2::date[], $3::int[], $4::int[])
       ON CONFLICT (app_id, day) DO UPDATE
         SET installs = t.installs + EXCLUDED.installs, uninstalls = t.uninstalls + EXCLUDED.uninstalls`,
      appDays.columns(),
    );
  if (reasons.size)
    await tx.query(
      `INSERT INTO analytics_uninstall_reasons AS t (app_id, day, reason, count)
       SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::int[])
       ON CONFLICT (app_id, day, reason) DO UPDATE SET count = t.count + EXCLUDED.count`,
      reasons.columns(),
    );
  if (cohorts.size)
    await tx.query(
      `INSERT INTO analytics_cohort_weeks AS t (app_id, cohort, week, count)
       SELECT * FROM unnest($1::text[], $2::date[], $3::smallint[], $4::int[])
       ON CONFLICT (app_id, cohort, week) DO UPDATE SET count = t.count + EXCLUDED.count`,
      cohorts.columns(),
    );
  if (revenue.size)
    await tx.query(
      `INSERT INTO analytics_revenue_days AS t (app_id, day, currency, gross, refunded, payments, failures)
       SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::bigint[], $5::bigint[], $6::int[], $7::int[])
       ON CONFLICT (app_id, day, currency) DO UPDATE SET gross = t.gross + EXCLUDED.gross,
         refunded = t.refunded + EXCLUDED.refunded, payments = t.payments + EXCLUDED.payments,
         failures = t.failures + EXCLUDED.failures`,
      revenue.columns(),
    );
  if (trials.size)
    await tx.query(
      `INSERT INTO analytics_trial_days AS t (app_id, day, started, ended, converted)
       SELECT * FROM unnest($1::text[], $2::date[], $3::int[], $4::int[], $5::int[])
       ON CONFLICT (app_id, day) DO UPDATE SET started = t.started + EXCLUDED.started,
         ended = t.ended + EXCLUDED.ended, converted = t.converted + EXCLUDED.converted`,
      trials.columns(),
    );
  if (payments.length) await applyPayments(tx, payments);
  if (payouts.size)
    await tx.query(
      `INSERT INTO analytics_payout_days AS t (partner_org_id, day, state, currency, count, amount)
       SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::int[], $6::bigint[])
       ON CONFLICT (partner_org_id, day, state, currency) DO UPDATE
         SET count = t.count + EXCLUDED.count, amount = t.amount + EXCLUDED.amount`,
      payouts.columns(),
    );
}

const addMonth = (month: string, n: number) => {
  const d = new Date(`${month}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + n);
  return d.toISOString().slice(0, 10);
};

/** A subscription's part in a month's MRR movement: [mrr, new, expansion, contraction, churn, reactivation]. */
export function movementOf(before: number, now: number, paidEarlier: boolean): number[] {
  if (now > 0 && before === 0) return paidEarlier ? [now, 0, 0, 0, 0, now] : [now, now, 0, 0, 0, 0];
  if (now > before && before > 0) return [now, 0, now - before, 0, 0, 0];
  if (now < before && now > 0) return [now, 0, 0, before - now, 0, 0];
  if (now === 0 && before > 0) return [0, 0, 0, 0, before, 0];
  return [now, 0, 0, 0, 0, 0];
}

/**
 * Recurring payments: each adds to its subscription's month, and the app's
 * MRR movement of that month and the next is corrected by the difference of
 * the subscription's part before and after (see analytics_mrr_months).
 */
async function applyPayments(
  tx: Tx,
  payments: Array<{ sub: string; app: string; month: string; currency: string; amount: number }>,
) {
  const subs = [...new Set(payments.map((p) => p.sub))].sort();
  const rows = await tx.query<{ subscription_id: string; month: string; amount: string }>(
    `SELECT subscription_id, to_char(month, 'YYYY-MM-DD') AS month, amount::text FROM analytics_subscription_months
     WHERE subscription_id = ANY($1) ORDER BY subscription_id, month FOR UPDATE`,
    [subs],
  );
  const months = new Map<string, Map<string, number>>();
  for (const r of rows) {
    const m = months.get(r.subscription_id) ?? new Map<string, number>();
    m.set(r.month, Number(r.amount));
    months.set(r.subscription_id, m);
  }
  const delta = new Sums(6);
  const changed = new Map<string, { sub: string; app: string; month: string; currency: string }>();
  for (const p of payments) {
    const m = months.get(p.sub) ?? new Map<string, number>();
    months.set(p.sub, m);
    const part = (month: string) => {
      const prev = addMonth(month, -1);
      const earlier = [...m.entries()].some(([k, v]) => k < prev && v > 0);
      return movementOf(m.get(prev) ?? 0, m.get(month) ?? 0, earlier);
    };
    const affected = [p.month, addMonth(p.month, 1)];
    for (const month of affected) delta.add([p.app, month, p.currency], ...part(month).map((v) => -v));
    m.set(p.month, (m.get(p.month) ?? 0) + p.amount);
    for (const month of affected) delta.add([p.app, month, p.currency], ...part(month));
    changed.set(`${p.sub}|${p.month}`, { sub: p.sub, app: p.app, month: p.month, currency: p.currency });
  }
  const list = [...changed.values()].sort((a, b) => (a.sub + a.month < b.sub + b.month ? -1 : 1));
  await tx.query(
    `INSERT INTO analytics_subscription_months AS t (subscription_id, app_id, month, currency, amount)
     SELECT * FROM unnest($1::text[], $2::text[], $3::date[], $4::text[], $5::bigint[])
     ON CONFLICT (subscription_id, month) DO UPDATE SET amount = EXCLUDED.amount`,
    [
      list.map((c) => c.sub),
      list.map((c) => c.app),
      list.map((c) => c.month),
      list.map((c) => c.currency),
      list.map((c) => months.get(c.sub)!.get(c.month)!),
    ],
  );
  await tx.query(
    `INSERT INTO analytics_mrr_months AS t (app_id, month, currency, mrr, new, expansion, contraction, churn, reactivation)
     SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
       $8::bigint[], $9::bigint[])
     ON CONFLICT (app_id, month, currency) DO UPDATE SET mrr = t.mrr + EXCLUDED.mrr, new = t.new + EXCLUDED.new,
       expansion = t.expansion + EXCLUDED.expansion, contraction = t.contraction + EXCLUDED.contraction,
       churn = t.churn + EXCLUDED.churn, reactivation = t.reactivation + EXCLUDED.reactivation`,
    delta.columns(),
  );
}
