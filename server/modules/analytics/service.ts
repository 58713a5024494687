import type { Db } from '../../db/index.ts';
import type { JobQueue } from '../../jobs/types.ts';
import type { Logger } from '../../logger.ts';
import type { AppsService } from '../apps/index.ts';
import type { EventsService, PlazaEvent } from '../events/index.ts';
import type { LedgerService } from '../ledger/index.ts';
import type { MailService } from '../mail/index.ts';
import type { MarketplaceService } from '../marketplace/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import type { ReviewsService } from '../reviews/index.ts';
import type { WebhooksService } from '../webhooks/index.ts';
import { allChartsCsv, chartCsv, type Dashboard, type DayRange, isoDay } from './charts.ts';
import { createDashboards } from './dashboards.ts';
import { type HistoryInput, seedHistory } from './history.ts';
import { ingestEvents, ROLLUP_EVENT_TYPES } from './ingest.ts';
import { createWeeklySummary } from './weekly.ts';

export const SUBSCRIBER = 'analytics.rollups';
/** How often each process adds its API call counts to the table. */
const API_FLUSH_MS = 5_000;

export type AnalyticsService = ReturnType<typeof createAnalyticsService>;

export function createAnalyticsService(deps: {
  db: Db;
  jobs: JobQueue;
  log: Logger;
  events: EventsService;
  apps: AppsService;
  marketplace: MarketplaceService;
  webhooks: WebhooksService;
  reviews: ReviewsService;
  ledger: LedgerService;
  organizations: OrganizationsService;
  mail: MailService;
  baseUrl: string;
  /** How long counted event ids are kept (see seenRetentionMs in index.ts). */
  seenRetentionMs: number;
  now?: () => Date;
}) {
  const { db, log, events } = deps;
  const now = deps.now ?? (() => new Date());
  const dashboards = createDashboards({ ...deps, now });

  // The subscriber: every committed event of a rollup type, once (ingest is idempotent per event id).
  events.subscribe({
    name: SUBSCRIBER,
    types: ROLLUP_EVENT_TYPES,
    handler: async (event) => void (await ingestEvents(db, [event])),
    handleBatch: async (list) => void (await ingestEvents(db, list)),
  });

  // API calls are counted in memory per app and day and added to the table every few seconds:
  // a write per API call would cost more than the call. A process that dies loses its last seconds.
  let pending = new Map<string, { appId: string; day: string; calls: number; limited: number }>();
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> = Promise.resolve();

  function countApiCall(appId: string, limited: boolean) {
    const day = isoDay(now());
    const key = `${appId}|${day}`;
    const c = pending.get(key) ?? { appId, day, calls: 0, limited: 0 };
    c.calls++;
    if (limited) c.limited++;
    pending.set(key, c);
  }

  function flushApiCalls(): Promise<void> {
    flushing = flushing.then(async () => {
      if (pending.size === 0) return;
      const rows = [...pending.values()].sort((a, b) => (a.appId + a.day < b.appId + b.day ? -1 : 1));
      pending = new Map();
      try {
        await db.query(
          `INSERT INTO analytics_api_days AS t (app_id, day, calls, limited)
           SELECT * FROM unnest($1::text[], $2::date[], $3::bigint[], $4::bigint[])
           ON CONFLICT (app_id, day) DO UPDATE SET calls = t.calls + EXCLUDED.calls, limited = t.limited + EXCLUDED.limited`,
          [
            rows.map((r) => r.appId),
            rows.map((r) => r.day),
            rows.map((r) => r.calls),
            rows.map((r) => r.limited),
          ],
        );
      } catch (err) {
        // Put them back for the next flush rather than lose them.
        for (const r of rows) {
          const key = `${r.appId}|${r.day}`;
          const c = pending.get(key) ?? { ...r, calls: 0, limited: 0 };
          c.calls += r.calls;
          c.limited += r.limited;
          pending.set(key, c);
        }
        log.warn({ err }, 'analytics: API call counts not written; will retry');
      }
    });
    return flushing;
  }

  const today = () => isoDay(now());
  const weekly = createWeeklySummary({ ...deps, dashboards, now });

  return {
    ingest: (list: PlazaEvent[]) => ingestEvents(db, list),
    /** Past events for demos and benchmarks (PLAZA_SEED_HISTORY_DAYS), counted like live ones. */
    seedHistory: (input: HistoryInput, opts?: Parameters<typeof seedHistory>[3]) =>
      seedHistory(db, events, input, opts),
    countApiCall,
    flushApiCalls,
    today,

    developer: async (orgId: string, appId: string | undefined, r: DayRange): Promise<Dashboard> => ({
      from: r.from,
      to: r.to,
      ...(await dashboards.developer(orgId, appId, r)),
    }),
    operator: async (r: DayRange): Promise<Dashboard> => ({
      from: r.from,
      to: r.to,
      ...(await dashboards.operator(r)),
    }),
    agency: async (orgId: string, r: DayRange): Promise<Dashboard> => ({
      from: r.from,
      to: r.to,
      ...(await dashboards.agency(orgId, r)),
    }),
    /** One chart of a dashboard as CSV (the numbers the chart draws); undefined when it has no such chart. */
    csvOf(d: Dashboard, chartId: string): string | undefined {
      const c = d.charts.find((x) => x.id === chartId);
      return c ? chartCsv(c) : undefined;
    },
    /** Every chart of a dashboard in one long table (chart, label, series, value). */
    allCsv: (d: Dashboard) => allChartsCsv(d.charts),

    /**
     * The retention job: forgets counted event ids older than `retentionMs` (their redelivery
     * window is long past), in batches so no statement holds many locks; returns how many were deleted.
     */
    async pruneSeen(retentionMs = deps.seenRetentionMs, batch = 10_000): Promise<number> {
      let deleted = 0;
      for (;;) {
        const rows = await db.query(
          `DELETE FROM analytics_seen WHERE event_id IN (
             SELECT event_id FROM analytics_seen WHERE seen_at < now() - $1::double precision * interval '1 millisecond'
             LIMIT $2)
           RETURNING 1`,
          [retentionMs, batch],
        );
        deleted += rows.length;
        if (rows.length < batch) return deleted;
      }
    },

    /** The weekly developer summary: sends last week's to every developer organization not yet sent. */
    sendWeeklySummaries: () => weekly.sendDue(),
    renderWeeklySvg: weekly.renderCharts,

    start() {
      timer = setInterval(() => void flushApiCalls(), API_FLUSH_MS);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      await flushApiCalls();
    },
  };
}
