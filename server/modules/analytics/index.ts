import { redeliveryHorizonMs } from '../events/index.ts';
import { defineModule } from '../module.ts';
import { analyticsRoutes } from './routes.ts';
import { type AnalyticsService, createAnalyticsService } from './service.ts';

export type { Chart, Dashboard, Stat } from './charts.ts';
export { ChartSchema, DashboardSchema, RANGES, StatSchema } from './charts.ts';
export type { HistoryInput } from './history.ts';
export type { AnalyticsService } from './service.ts';

/**
 * How long counted event ids are kept: ten times the events dispatcher's redelivery
 * horizon (a few minutes by default) and at least a week, so a redelivery after a long
 * outage of the workers is still recognised.
 */
export const seenRetentionMs = (jobsLeaseMs: number) =>
  Math.max(7 * 86_400_000, 10 * redeliveryHorizonMs(jobsLeaseMs));

declare module '../module.ts' {
  interface ModuleServices {
    analytics: AnalyticsService;
  }
}

/**
 * Dashboards for developers, operators and agencies, fed by rollup tables
 * (daily buckets per app, account, agency) that an event subscriber keeps up
 * to date, and by the daily counters other modules keep of what is not an
 * event (webhook attempts, ratings, searches with no result, reviews).
 */
export default defineModule({
  name: 'analytics',
  requires: ['events', 'apps', 'marketplace', 'webhooks', 'reviews', 'ledger', 'organizations', 'mail'],
  tables: [
    'analytics_seen',
    'analytics_app_days',
    'analytics_uninstall_reasons',
    'analytics_installations',
    'analytics_cohort_weeks',
    'analytics_sub_accounts',
    'analytics_revenue_days',
    'analytics_subscription_months',
    'analytics_mrr_months',
    'analytics_account_days',
    'analytics_platform_days',
    'analytics_payout_days',
    'analytics_api_days',
    'analytics_weekly_sent',
    'analytics_trial_days',
  ],
  createService: ({
    db,
    jobs,
    log,
    config,
    events,
    apps,
    marketplace,
    webhooks,
    reviews,
    ledger,
    organizations,
    mail,
  }) =>
    createAnalyticsService({
      db,
      jobs,
      log,
      events,
      apps,
      marketplace,
      webhooks,
      reviews,
      ledger,
      organizations,
      mail,
      baseUrl: config.baseUrl,
      seenRetentionMs: seenRetentionMs(config.jobsLeaseMs),
    }),
  jobs: (analytics) => [
    // Hourly look; each developer organization gets last week's summary once (analytics_weekly_sent).
    {
      name: 'analytics.weekly_summary',
      everyMs: 3_600_000,
      attempts: 2,
      handler: () => analytics.sendWeeklySummaries().then(() => {}),
    },
    {
      name: 'analytics.seen_retention',
      everyMs: 3_600_000,
      attempts: 2,
      handler: () => analytics.pruneSeen().then(() => {}),
    },
  ],
  routes: ({ analytics }) => analyticsRoutes({ analytics }),
  // API calls are counted in every process that serves them.
  start: (analytics) => analytics.start(),
  stop: (analytics) => analytics.stop(),
});
