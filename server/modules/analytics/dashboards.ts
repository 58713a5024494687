import type { Db } from '../../db/index.ts';
import { notFound } from '../../errors.ts';
import type { JobQueue } from '../../jobs/types.ts';
import type { AppsService } from '../apps/index.ts';
import type { LedgerService } from '../ledger/index.ts';
import type { MarketplaceService } from '../marketplace/index.ts';
import type { ReviewsService } from '../reviews/index.ts';
import type { WebhooksService } from '../webhooks/index.ts';
import {
  addDays,
  type Chart,
  chart,
  type Dashboard,
  type DayRange,
  isoDay,
  perDay,
  quantile,
  round,
  type Stat,
  seriesPerDay,
} from './charts.ts';
import { weekOf } from './ingest.ts';

export interface DashboardDeps {
  db: Db;
  now: () => Date;
  jobs: JobQueue;
  apps: AppsService;
  marketplace: MarketplaceService;
  webhooks: WebhooksService;
  reviews: ReviewsService;
  ledger: LedgerService;
}

const stat = (s: Partial<Stat> & Pick<Stat, 'id' | 'label' | 'value' | 'unit'>): Stat => ({
  currency: null,
  note: null,
  ...s,
});
const pct = (part: number, whole: number) => (whole > 0 ? round((100 * part) / whole) : null);
const num = (v: unknown) => Number(v ?? 0);
/** First day of the month of a day, and month arithmetic on YYYY-MM-01. */
const monthStart = (day: string) => `${day.slice(0, 7)}-01`;
const addMonths = (month: string, n: number) => {
  const d = new Date(`${month}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + n);
  return d.toISOString().slice(0, 10);
};

export function createDashboards(deps: DashboardDeps) {
  const { db, jobs, apps, marketplace, webhooks, reviews, ledger, now } = deps;

  /** Installs, uninstalls and the active installations before the range, for some apps (null: all). */
  async function installDays(appIds: string[] | null, r: DayRange) {
    const [rows, base] = await Promise.all([
      appIds
        ? db.query(
            `SELECT to_char(day, 'YYYY-MM-DD') AS day, sum(installs)::int AS installs, sum(uninstalls)::int AS uninstalls
             FROM analytics_app_days WHERE app_id = ANY($1) AND day BETWEEN $2 AND $3 GROUP BY day`,
            [appIds, r.from, r.to],
          )
        : db.query(
            `SELECT to_char(day, 'YYYY-MM-DD') AS day, installs, uninstalls FROM analytics_platform_days
             WHERE day BETWEEN $1 AND $2`,
            [r.from, r.to],
          ),
      appIds
        ? db.one(
            `SELECT coalesce(sum(installs - uninstalls), 0)::int AS n FROM analytics_app_days
             WHERE app_id = ANY($1) AND day < $2`,
            [appIds, r.from],
          )
        : Promise.resolve({ n: 0 }),
    ]);
    return {
      installs: perDay(r.days, rows, (x) => x.installs),
      uninstalls: perDay(r.days, rows, (x) => x.uninstalls),
      before: num(base.n),
    };
  }

  /**
   * Every rollup the developer dashboard reads, in one statement (one round trip instead of
   * one per chart): each part is an index range scan on its table's (app or partner, day)
   * key, aggregated to JSON. Other modules' counters are read through their services.
   */
  async function developerRollups(ids: string[], orgId: string, r: DayRange) {
    const row = await db.one<Record<string, any>>(
      `SELECT
         (SELECT coalesce(json_agg(t), '[]') FROM (
            SELECT to_char(day, 'YYYY-MM-DD') AS day, sum(installs)::int AS installs, sum(uninstalls)::int AS uninstalls
            FROM analytics_app_days WHERE app_id = ANY($1) AND day BETWEEN $2 AND $3 GROUP BY day) t) AS installs,
         (SELECT coalesce(sum(installs - uninstalls), 0)::int FROM analytics_app_days
          WHERE app_id = ANY($1) AND day < $2) AS before,
         (SELECT coalesce(json_agg(t ORDER BY t.n DESC, t.reason), '[]') FROM (
            SELECT reason, sum(count)::int AS n FROM analytics_uninstall_reasons
            WHERE app_id = ANY($1) AND day BETWEEN $2 AND $3 GROUP BY reason) t) AS reasons,
         (SELECT coalesce(json_agg(t), '[]') FROM (
            SELECT to_char(day, 'YYYY-MM-DD') AS day, sum(calls)::bigint AS calls, sum(limited)::bigint AS limited
            FROM analytics_api_days WHERE app_id = ANY($1) AND day BETWEEN $2 AND $3 GROUP BY day) t) AS api,
         (SELECT coalesce(json_agg(t), '[]') FROM (
            SELECT to_char(day, 'YYYY-MM-DD') AS day, currency, sum(gross - refunded)::bigint AS net,
              sum(payments)::int AS payments
            FROM analytics_revenue_days WHERE app_id = ANY($1) AND day BETWEEN $2 AND $3 GROUP BY day, currency) t) AS revenue,
         (SELECT coalesce(json_agg(t), '[]') FROM (
            SELECT to_char(month, 'YYYY-MM-DD') AS month, currency, sum(mrr)::bigint AS mrr, sum(new)::bigint AS new,
              sum(expansion)::bigint AS expansion, sum(contraction)::bigint AS contraction, sum(churn)::bigint AS churn,
              sum(reactivation)::bigint AS reactivation
            FROM analytics_mrr_months WHERE app_id = ANY($1) AND month BETWEEN $4 AND $5 GROUP BY month, currency) t) AS mrr,
         (SELECT coalesce(json_agg(t), '[]') FROM (
            SELECT to_char(cohort, 'YYYY-MM-DD') AS cohort, week, sum(count)::int AS n FROM analytics_cohort_weeks
            WHERE app_id = ANY($1) AND cohort BETWEEN $6 AND $3 GROUP BY cohort, week) t) AS cohorts,
         (SELECT coalesce(json_agg(t), '[]') FROM (
            SELECT to_char(day, 'YYYY-MM-DD') AS day, state, currency, sum(count)::int AS n, sum(amount)::bigint AS amount
            FROM analytics_payout_days WHERE partner_org_id = $7 AND day BETWEEN $2 AND $3
            GROUP BY day, state, currency) t) AS payouts,
         (SELECT coalesce(json_agg(t), '[]') FROM (
            SELECT to_char(day, 'YYYY-MM-DD') AS day, sum(ended)::int AS ended, sum(converted)::int AS converted
            FROM analytics_trial_days WHERE app_id = ANY($1) AND day BETWEEN $2 AND $3 GROUP BY day) t) AS trials`,
      [ids, r.from, r.to, addMonths(monthStart(r.from), -1), monthStart(r.to), weekOf(r.from), orgId],
    );
    return {
      installs: row.installs as any[],
      before: row.before as number,
      reasons: row.reasons as Array<{ reason: string; n: number }>,
      api: row.api as any[],
      revenue: row.revenue as any[],
      mrrRows: row.mrr as any[],
      cohortRows: row.cohorts as any[],
      payouts: row.payouts as any[],
      trialRows: row.trials as any[],
    };
  }

  async function developer(
    orgId: string,
    appId: string | undefined,
    r: DayRange,
  ): Promise<Omit<Dashboard, 'from' | 'to'>> {
    const list = await apps.namesOfOrganization(orgId);
    if (appId && !list.some((a) => a.id === appId)) throw notFound('app');
    const ids = appId ? [appId] : list.map((a) => a.id);
    const noApp = ids.length === 0;
    const [rollups, ratings, attempts, latency] = await Promise.all([
      developerRollups(ids, orgId, r),
      marketplace.ratingDays(ids, r.from, r.to),
      webhooks.attemptDays(ids, r.from, r.to),
      webhooks.endpointLatency(ids, r.from, r.to),
    ]);
    const { reasons, api, revenue, mrrRows, cohortRows, payouts, trialRows } = rollups;
    const inst = {
      installs: perDay(r.days, rollups.installs, (x) => x.installs),
      uninstalls: perDay(r.days, rollups.installs, (x) => x.uninstalls),
      before: num(rollups.before),
    };
    const charts: Chart[] = [];
    const createHint = noApp ? 'Create an app and publish it to the marketplace: ' : '';

    charts.push(
      chart({
        id: 'installs',
        title: 'Installs and uninstalls',
        description: 'Installations opened and closed per day (UTC).',
        kind: 'bar',
        unit: 'count',
        x: r.days,
        series: [
          { name: 'Installs', data: inst.installs },
          { name: 'Uninstalls', data: inst.uninstalls },
        ],
        hint: `${createHint}installs appear here once accounts install your app from the marketplace or its install link.`,
      }),
    );
    const active: number[] = [];
    let open = inst.before;
    r.days.forEach((_, i) => {
      open += inst.installs[i] - inst.uninstalls[i];
      active.push(open);
    });
    charts.push(
      chart({
        id: 'active_installations',
        title: 'Active installations',
        description: 'Installations open at the end of each day.',
        kind: 'line',
        unit: 'count',
        x: r.days,
        series: [{ name: 'Active installations', data: active }],
        hint: `${createHint}share your app's install link with a test account to see the first one.`,
      }),
    );
    // Churn of a day: uninstalls over the installations open at its start.
    const churn = r.days.map((_, i) => {
      const open = i === 0 ? inst.before : active[i - 1];
      return open > 0 ? round((100 * inst.uninstalls[i]) / open, 2) : inst.uninstalls[i] > 0 ? null : 0;
    });
    charts.push(
      chart({
        id: 'churn',
        title: 'Daily churn',
        description: "Uninstalls of a day as a share of the installations open at the day's start.",
        kind: 'line',
        unit: 'percent',
        x: r.days,
        series: [{ name: 'Churn %', data: churn }],
        hint: 'No uninstalls in this range: nothing has churned.',
      }),
    );
    charts.push(
      chart({
        id: 'uninstall_reasons',
        title: 'Uninstall reasons',
        description: 'Why installations closed in the range.',
        kind: 'pie',
        unit: 'count',
        x: reasons.map((x) => x.reason),
        series: [{ name: 'Uninstalls', data: reasons.map((x) => x.n) }],
        hint: 'No uninstalls in this range.',
      }),
    );
    const ratingCount = perDay(r.days, ratings, (x) => x.ratings);
    const ratingStars = perDay(r.days, ratings, (x) => x.stars);
    charts.push(
      chart({
        id: 'ratings',
        title: 'Ratings',
        description: 'Ratings given (or edited) per day and their average stars.',
        kind: 'bar',
        unit: 'count',
        x: r.days,
        series: [
          { name: 'Ratings', data: ratingCount },
          {
            name: 'Average stars',
            data: ratingCount.map((n, i) => (n > 0 ? round(ratingStars[i] / n, 2) : null)),
          },
        ],
        hint: 'Accounts that installed your app can rate it on its marketplace page; ask your first customers.',
      }),
    );
    const endpoints = [...new Set(attempts.map((a) => a.endpointId))];
    const urlOf = new Map(latency.map((l) => [l.endpointId, l.url ?? l.endpointId]));
    charts.push(
      chart({
        id: 'webhook_success',
        title: 'Webhook success rate',
        description: 'Share of delivery attempts answered with 2xx, per endpoint and day.',
        kind: 'line',
        unit: 'percent',
        x: r.days,
        series: endpoints.map((id) => {
          const mine = attempts.filter((a) => a.endpointId === id);
          return {
            name: urlOf.get(id) ?? id,
            data: r.days.map((d) => {
              const a = mine.find((x) => x.day === d);
              return a ? pct(a.succeeded, a.attempts) : null;
            }),
          };
        }),
        hint: 'Add a webhook endpoint to your app (Webhooks page) and subscribe it to events to see deliveries.',
      }),
    );
    charts.push(
      chart({
        id: 'webhook_latency',
        title: 'Webhook latency per endpoint',
        description:
          'Median (p50) and 95th percentile of delivery attempts in the range, in ms (upper bound of the latency bucket).',
        kind: 'bar',
        unit: 'ms',
        x: latency.map((l) => l.url ?? l.endpointId),
        series: [
          { name: 'p50', data: latency.map((l) => l.p50Ms) },
          { name: 'p95', data: latency.map((l) => l.p95Ms) },
        ],
        hint: 'No webhook deliveries in this range: add an endpoint, or send a test message from the Webhooks page.',
      }),
    );
    charts.push(
      chart({
        id: 'api_calls',
        title: 'API calls',
        description: "Calls to Plaza's app API with your app's tokens per day, and those refused with 429.",
        kind: 'bar',
        unit: 'count',
        x: r.days,
        series: [
          { name: 'Calls', data: perDay(r.days, api, (x) => num(x.calls)) },
          { name: '429 (rate limited)', data: perDay(r.days, api, (x) => num(x.limited)) },
        ],
        hint: 'Call the API with an installation access token (see the SDK) to see traffic here.',
      }),
    );
    const currencies = [...new Set(revenue.map((x) => x.currency as string))].sort();
    charts.push(
      chart({
        id: 'revenue',
        title: 'Revenue',
        description: 'What accounts paid for your apps per day, less refunds (minor units of each currency).',
        kind: 'bar',
        unit: 'money',
        x: r.days,
        series: seriesPerDay(
          r.days,
          currencies,
          revenue,
          (x) => x.currency,
          (x) => num(x.net),
        ),
        hint: 'Set a price on your app (a version with pricing) and connect a payout account to earn here.',
      }),
    );
    // MRR in the currency that carries the most of it.
    const mrrByCurrency = new Map<string, number>();
    for (const m of mrrRows) mrrByCurrency.set(m.currency, (mrrByCurrency.get(m.currency) ?? 0) + num(m.mrr));
    const mrrCurrency = [...mrrByCurrency.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
    const today = isoDay(now());
    const running = monthStart(today);
    const monthRow = (month: string) => {
      const m = mrrRows.find((x) => x.month === month && x.currency === mrrCurrency);
      const v = {
        month,
        mrr: num(m?.mrr),
        new: num(m?.new),
        expansion: num(m?.expansion),
        contraction: num(m?.contraction),
        churn: num(m?.churn),
        reactivation: num(m?.reactivation),
      };
      // The running month: a subscription not yet renewed is not churned yet; it counts at its last amount.
      if (month === running) {
        v.mrr += v.churn;
        v.churn = 0;
      }
      return v;
    };
    const rangeMonths: string[] = [];
    for (let m = monthStart(r.from); m <= r.to; m = addMonths(m, 1)) rangeMonths.push(m);
    const movement = rangeMonths.map(monthRow);
    charts.push(
      chart({
        id: 'mrr',
        title: `MRR movement${mrrCurrency ? ` (${mrrCurrency})` : ''}`,
        description:
          'Monthly recurring revenue by month (line) and what moved it: new, expansion, contraction, churn (negative), reactivation. In the month still running, a subscription not yet renewed counts at its last amount.',
        kind: 'stacked',
        unit: 'money',
        currency: mrrCurrency,
        x: rangeMonths.map((m) => m.slice(0, 7)),
        series: [
          { name: 'MRR', data: movement.map((m) => m.mrr), line: true },
          { name: 'New', data: movement.map((m) => m.new) },
          { name: 'Expansion', data: movement.map((m) => m.expansion) },
          { name: 'Contraction', data: movement.map((m) => -m.contraction) },
          { name: 'Churn', data: movement.map((m) => -m.churn) },
          { name: 'Reactivation', data: movement.map((m) => m.reactivation) },
        ],
        hint: 'Give your app a monthly price: recurring payments make up MRR.',
      }),
    );
    // Cohorts: weeks since the cohort's Monday; retention = still installed at the start of that week.
    const cohorts = [...new Set(cohortRows.map((c) => c.cohort as string))].sort();
    const maxWeeks = Math.min(12, Math.ceil(r.days.length / 7));
    const weeks = Array.from({ length: maxWeeks + 1 }, (_, w) => w);
    charts.push(
      chart({
        id: 'cohorts',
        title: 'Install cohort retention',
        description:
          'Accounts that installed in a week (by its Monday) and the share still installed 0, 1, 2... weeks later.',
        kind: 'heatmap',
        unit: 'percent',
        x: cohorts,
        series: weeks.map((w) => ({
          name: `Week ${w}`,
          data: cohorts.map((c) => {
            if (addDays(c, 7 * w) > r.to) return null;
            const mine = cohortRows.filter((x) => x.cohort === c);
            const size = mine.find((x) => x.week === -1)?.n ?? 0;
            const gone = mine.filter((x) => x.week >= 0 && x.week < w).reduce((a, x) => a + x.n, 0);
            return size > 0 ? round((100 * (size - gone)) / size) : null;
          }),
        })),
        hint: 'Cohorts appear a week after the first installs.',
      }),
    );
    const payoutStates = ['held', 'in_transit', 'paid', 'failed'];
    charts.push(
      chart({
        id: 'payouts',
        title: 'Payouts',
        currency: (payouts[0]?.currency as string | undefined) ?? null,
        description:
          'Payout amounts by state per day (minor units): in transit when a run sends them, paid, failed, held (could not be paid).',
        kind: 'stacked',
        unit: 'money',
        x: r.days,
        series: seriesPerDay(
          r.days,
          payoutStates,
          payouts,
          (x) => x.state,
          (x) => num(x.amount),
        ),
        hint: 'Connect a payout account (Earnings page); payouts run on the payout day once you have earnings.',
      }),
    );

    const trialsEnded = perDay(r.days, trialRows, (x) => x.ended);
    const trialsConverted = perDay(r.days, trialRows, (x) => x.converted);
    charts.push(
      chart({
        id: 'trial_conversion',
        title: 'Trial conversion',
        description:
          'Free trials whose outcome was known per day: ended (paid or canceled), converted (the first invoice after the trial was paid), and the conversion rate in % (line).',
        kind: 'bar',
        unit: 'count',
        x: r.days,
        series: [
          { name: 'Trials ended', data: trialsEnded },
          { name: 'Converted', data: trialsConverted },
          { name: 'Conversion %', data: trialsEnded.map((n, i) => pct(trialsConverted[i], n)), line: true },
        ],
        hint: 'Give your app a recurring price with trial days: trials appear here when they end.',
      }),
    );
    const endedTotal = trialsEnded.reduce((a, b) => a + b, 0);
    const convertedTotal = trialsConverted.reduce((a, b) => a + b, 0);

    const last = movement[movement.length - 1];
    // Net revenue retention over the range: MRR of the month before it, plus expansion, less contraction
    // and churn of the range's months (new and reactivated revenue do not count), over that starting MRR.
    const retainedFromStart = (() => {
      const start = monthRow(addMonths(monthStart(r.from), -1)).mrr;
      const kept = movement.reduce((a, m) => a + m.expansion - m.contraction - m.churn, start);
      return pct(kept, start);
    })();
    const stats: Stat[] = [
      stat({
        id: 'installs',
        label: 'Installs',
        value: inst.installs.reduce((a, b) => a + b, 0),
        unit: 'count',
      }),
      stat({
        id: 'active_installations',
        label: 'Active installations',
        value: active[active.length - 1] ?? 0,
        unit: 'count',
      }),
      stat({
        id: 'mrr',
        label: 'MRR',
        value: last ? last.mrr : null,
        unit: 'money',
        currency: mrrCurrency,
      }),
      stat({
        id: 'nrr',
        label: 'Net revenue retention',
        value: retainedFromStart,
        unit: 'percent',
        note: 'MRR of the month before the range plus expansion, less contraction and churn since, over that MRR.',
      }),
    ];
    stats.push(
      stat({
        id: 'trial_conversion',
        label: 'Trial conversion',
        value: pct(convertedTotal, endedTotal),
        unit: 'percent',
        note: `${convertedTotal} of ${endedTotal} trials that ended in the range converted.`,
      }),
    );
    const notes: string[] = [];
    return { kind: 'developer', apps: list, appId: appId ?? null, stats, charts, notes };
  }

  async function operator(r: DayRange): Promise<Omit<Dashboard, 'from' | 'to'>> {
    const [states, decisions, misses, inst, attempts, backlog, jobCounts, gmv, overview] = await Promise.all([
      apps.reviewStateCounts(),
      reviews.decisions(r.from, r.to),
      marketplace.searchMisses(r.from, r.to, 20),
      installDays(null, r),
      webhooks.attemptDays(null, r.from, r.to),
      webhooks.backlog(),
      jobs.counts(),
      db.query(
        `SELECT to_char(day, 'YYYY-MM-DD') AS day, currency, sum(gross)::bigint AS gross
         FROM analytics_revenue_days WHERE day BETWEEN $1 AND $2 GROUP BY day, currency`,
        [r.from, r.to],
      ),
      ledger.overview({
        from: new Date(`${r.from}T00:00:00Z`),
        to: new Date(`${addDays(r.to, 1)}T00:00:00Z`),
      }),
    ]);
    const charts: Chart[] = [];
    charts.push(
      chart({
        id: 'review_states',
        title: 'Apps by review state',
        description: 'Apps with a version in each state now.',
        kind: 'pie',
        unit: 'count',
        x: states.map((s) => s.state),
        series: [{ name: 'Apps', data: states.map((s) => s.apps) }],
        hint: 'No apps yet: developers create apps from their organization.',
      }),
    );
    const byDay = r.days.map((d) => decisions.data.filter((x) => x.day === d));
    charts.push(
      chart({
        id: 'review_time',
        title: 'Review time',
        description: `Hours from submission to decision, median and p90 of the decisions of each day, the decisions past the ${decisions.targetBusinessDays}-business-day target, and all decisions.`,
        kind: 'line',
        unit: 'hours',
        x: r.days,
        series: [
          {
            name: 'Median hours',
            data: byDay.map((l) =>
              roundOrNull(
                quantile(
                  l.map((x) => x.hours),
                  0.5,
                ),
              ),
            ),
          },
          {
            name: 'p90 hours',
            data: byDay.map((l) =>
              roundOrNull(
                quantile(
                  l.map((x) => x.hours),
                  0.9,
                ),
              ),
            ),
          },
          { name: 'SLA breaches', data: byDay.map((l) => l.filter((x) => x.breached).length) },
          { name: 'Decisions', data: byDay.map((l) => l.length) },
        ],
        hint: 'No review decisions in this range: approve or request changes from the review queue.',
      }),
    );
    charts.push(
      chart({
        id: 'search_misses',
        title: 'Searches with no result',
        description: 'What people searched the marketplace for and did not find (top 20).',
        kind: 'bar',
        unit: 'count',
        x: misses.map((m) => m.query),
        series: [{ name: 'Searches', data: misses.map((m) => m.count) }],
        hint: 'Every search found something in this range.',
      }),
    );
    charts.push(
      chart({
        id: 'installs',
        title: 'Installs per day',
        description: 'Installations opened and closed across the platform per day.',
        kind: 'bar',
        unit: 'count',
        x: r.days,
        series: [
          { name: 'Installs', data: inst.installs },
          { name: 'Uninstalls', data: inst.uninstalls },
        ],
        hint: 'No installs in this range yet.',
      }),
    );
    const att = perDay(r.days, attempts, (a) => a.attempts);
    const ok = perDay(r.days, attempts, (a) => a.succeeded);
    charts.push(
      chart({
        id: 'webhook_failures',
        title: 'Webhook failure rate',
        description:
          'Share of delivery attempts across the platform that failed, per day, and the attempts made.',
        kind: 'line',
        unit: 'percent',
        x: r.days,
        series: [
          { name: 'Failure %', data: att.map((n, i) => (n > 0 ? pct(n - ok[i], n) : null)) },
          { name: 'Attempts', data: att },
        ],
        hint: 'No webhook deliveries in this range.',
      }),
    );
    charts.push(
      chart({
        id: 'jobs',
        title: 'Job queues',
        description: 'Jobs waiting, running and failed (all tries used) per job type, now.',
        kind: 'stacked',
        unit: 'count',
        x: jobCounts.map((j) => j.name),
        series: [
          { name: 'Waiting', data: jobCounts.map((j) => j.waiting) },
          { name: 'Active', data: jobCounts.map((j) => j.active) },
          { name: 'Failed', data: jobCounts.map((j) => j.failed) },
        ],
        hint: 'All queues are empty.',
      }),
    );
    const currencies = [...new Set(gmv.map((x) => x.currency as string))].sort();
    charts.push(
      chart({
        id: 'gmv',
        title: 'GMV',
        description: 'What customers paid for apps per day (gross, minor units of each currency).',
        kind: 'bar',
        unit: 'money',
        x: r.days,
        series: seriesPerDay(
          r.days,
          currencies,
          gmv,
          (x) => x.currency,
          (x) => num(x.gross),
        ),
        hint: 'No payments yet: paid apps charge accounts when they install.',
      }),
    );
    const all = decisions.data.map((x) => x.hours);
    const main = [...overview].sort((a, b) => Number(b.gmv - a.gmv))[0];
    const stats: Stat[] = [
      stat({
        id: 'review_median',
        label: 'Median review time',
        value: roundOrNull(quantile(all, 0.5)),
        unit: 'hours',
      }),
      stat({
        id: 'review_p90',
        label: 'p90 review time',
        value: roundOrNull(quantile(all, 0.9)),
        unit: 'hours',
      }),
      stat({
        id: 'sla_breaches',
        label: 'SLA breaches',
        value: decisions.data.filter((x) => x.breached).length,
        unit: 'count',
        note: `Decisions later than ${decisions.targetBusinessDays} business days after submission.`,
      }),
      stat({ id: 'webhook_backlog', label: 'Webhook backlog', value: backlog.pending, unit: 'count' }),
      stat({ id: 'webhook_dead', label: 'Dead-lettered messages', value: backlog.failed, unit: 'count' }),
      stat({
        id: 'failed_jobs',
        label: 'Failed jobs',
        value: jobCounts.reduce((a, j) => a + j.failed, 0),
        unit: 'count',
      }),
      stat({
        id: 'take_rate',
        label: 'Take rate',
        value: main ? pct(Number(main.platformRevenue), Number(main.gmv)) : null,
        unit: 'percent',
        currency: main?.currency ?? null,
        note: 'Platform revenue over GMV in the range, from the ledger.',
      }),
    ];
    return { kind: 'operator', apps: [], appId: null, stats, charts, notes: [] };
  }

  async function agency(orgId: string, r: DayRange): Promise<Omit<Dashboard, 'from' | 'to'>> {
    // The agency's rollups in one statement (one round trip); earnings come from the ledger.
    const [rollups, earnings] = await Promise.all([
      db.one<{ created: any[]; base: number; per_account: any[] }>(
        `SELECT
           (SELECT coalesce(json_agg(t), '[]') FROM (
              SELECT to_char(created_on, 'YYYY-MM-DD') AS day, count(*)::int AS n FROM analytics_sub_accounts
              WHERE agency_id = $1 AND created_on BETWEEN $2 AND $3 GROUP BY created_on) t) AS created,
           (SELECT count(*)::int FROM analytics_sub_accounts WHERE agency_id = $1 AND created_on < $2) AS base,
           (SELECT coalesce(json_agg(t ORDER BY t.active DESC, t.name), '[]') FROM (
              SELECT s.account_id, s.name,
                coalesce(sum(d.installs - d.uninstalls) FILTER (WHERE d.day <= $3), 0)::int AS active,
                coalesce(sum(d.installs) FILTER (WHERE d.day BETWEEN $2 AND $3), 0)::int AS installed
              FROM analytics_sub_accounts s LEFT JOIN analytics_account_days d ON d.account_id = s.account_id
              WHERE s.agency_id = $1 GROUP BY s.account_id, s.name ORDER BY active DESC, s.name LIMIT 30) t) AS per_account`,
        [orgId, r.from, r.to],
      ),
      ledger.resaleEarnings(orgId),
    ]);
    const { created, base } = rollups;
    const perAccount = rollups.per_account;
    const newPerDay = perDay(r.days, created, (x) => x.n);
    let total = num(base);
    const charts: Chart[] = [
      chart({
        id: 'sub_accounts',
        title: 'Sub-accounts',
        description: 'Sub-accounts at the end of each day, and those created that day.',
        kind: 'line',
        unit: 'count',
        x: r.days,
        series: [
          {
            name: 'Sub-accounts',
            data: newPerDay.map((n) => {
              total += n;
              return total;
            }),
          },
          { name: 'Created', data: newPerDay },
        ],
        hint: 'Create a sub-account for your first customer (Sub-accounts page).',
      }),
      chart({
        id: 'installs_per_sub_account',
        title: 'Installs per sub-account',
        description:
          'Apps installed at the end of the range in each sub-account (top 30), and installs in the range.',
        kind: 'bar',
        unit: 'count',
        x: perAccount.map((a) => a.name),
        series: [
          { name: 'Active installations', data: perAccount.map((a) => a.active) },
          { name: 'Installed in range', data: perAccount.map((a) => a.installed) },
        ],
        hint: 'Install apps into your sub-accounts (Install in bulk) to see them here.',
      }),
    ];
    // Resale earnings: the ledger's own report of the agency's part of each customer's charges (net of
    // refunds), since the first charge: the ledger keeps no daily figures of it yet.
    const customers = [...new Set(earnings.map((e) => e.customerOrgId))];
    const names = new Map(
      (
        await db.query<{ account_id: string; name: string }>(
          'SELECT account_id, name FROM analytics_sub_accounts WHERE account_id = ANY($1)',
          [customers],
        )
      ).map((a) => [a.account_id, a.name]),
    );
    const currencies = [...new Set(earnings.map((e) => e.currency))].sort();
    charts.push(
      chart({
        id: 'resale_earnings',
        title: 'Resale earnings per sub-account',
        description:
          'Your part of what each sub-account paid for apps (schedule share plus markup, net of refunds), since the first charge; not limited to the range.',
        kind: 'bar',
        unit: 'money',
        x: customers.map((c) => names.get(c) ?? c),
        series: currencies.map((cur) => ({
          name: cur,
          data: customers.map((c) => {
            const e = earnings.find((x) => x.customerOrgId === c && x.currency === cur);
            return e ? Number(e.agencyShare) : 0;
          }),
        })),
        hint: 'Resell paid apps to your sub-accounts (Resale page): your share of their payments shows here.',
      }),
    );
    const notes: string[] = [];
    return {
      kind: 'agency',
      apps: [],
      appId: null,
      stats: [stat({ id: 'sub_accounts', label: 'Sub-accounts', value: total, unit: 'count' })],
      charts,
      notes,
    };
  }

  return { developer, operator, agency };
}

const roundOrNull = (v: number | null) => (v === null ? null : round(v));
