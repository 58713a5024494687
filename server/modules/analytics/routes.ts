import { z } from 'zod';
import { PlazaError } from '../../errors.ts';
import { type Access, defineRoute } from '../../http/route.ts';
import { type Dashboard, DashboardSchema, RangeQuery, resolveRange } from './charts.ts';
import type { AnalyticsService } from './service.ts';

const DEVELOPER: Access = { kind: 'org', orgKinds: ['developer'] };
const AGENCY: Access = { kind: 'org', orgKinds: ['agency'] };
const OPERATOR: Access = { kind: 'platform', roles: ['admin'] };

const OrgParams = z.object({ orgId: z.string().max(64) });
const DeveloperQuery = RangeQuery.extend({
  appId: z.string().max(64).optional().describe('One app of the organization; default: all its apps'),
});
const ExportQuery = {
  chart: z
    .string()
    .max(64)
    .optional()
    .describe('The id of the chart to export (charts[].id); without it, every chart in one long table'),
};

/** Sends one chart of a dashboard as CSV; 400 naming `query.chart` when the dashboard has no such chart. */
function sendCsv(
  ctx: any,
  analytics: AnalyticsService,
  d: Dashboard,
  chartId: string | undefined,
  name: string,
) {
  const csv = chartId === undefined ? analytics.allCsv(d) : analytics.csvOf(d, chartId);
  if (csv === undefined)
    throw new PlazaError('PLAZA_VALIDATION', `query.chart: no chart named ${chartId}`, {
      fields: [{ field: 'query.chart', reason: `must be one of ${d.charts.map((c) => c.id).join(', ')}` }],
    });
  ctx.set('Content-Type', 'text/csv; charset=utf-8');
  ctx.set('Content-Disposition', `attachment; filename="${name}-${chartId ?? 'all'}-${d.from}-${d.to}.csv"`);
  ctx.body = csv;
}

export function analyticsRoutes({ analytics }: { analytics: AnalyticsService }) {
  return [
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/dashboards/developer',
      summary:
        "The developer dashboard: installs, churn, ratings, webhooks, API use and money of the organization's apps",
      tag: 'Dashboards',
      access: DEVELOPER,
      params: OrgParams,
      query: DeveloperQuery,
      response: DashboardSchema,
      handler: ({ org, query }) =>
        analytics.developer(org.org.id, query.appId, resolveRange(query, analytics.today())),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/dashboards/developer/export',
      summary: 'One chart of the developer dashboard as CSV (the numbers the chart shows)',
      tag: 'Dashboards',
      access: DEVELOPER,
      params: OrgParams,
      query: DeveloperQuery.extend(ExportQuery),
      handler: async ({ org, query, ctx }) =>
        sendCsv(
          ctx,
          analytics,
          await analytics.developer(org.org.id, query.appId, resolveRange(query, analytics.today())),
          query.chart,
          'developer',
        ),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/dashboards/agency',
      summary: 'The agency dashboard: sub-accounts over time and installs per sub-account',
      tag: 'Dashboards',
      access: AGENCY,
      params: OrgParams,
      query: RangeQuery,
      response: DashboardSchema,
      handler: ({ org, query }) => analytics.agency(org.org.id, resolveRange(query, analytics.today())),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/dashboards/agency/export',
      summary: 'One chart of the agency dashboard as CSV',
      tag: 'Dashboards',
      access: AGENCY,
      params: OrgParams,
      query: RangeQuery.extend(ExportQuery),
      handler: async ({ org, query, ctx }) =>
        sendCsv(
          ctx,
          analytics,
          await analytics.agency(org.org.id, resolveRange(query, analytics.today())),
          query.chart,
          'agency',
        ),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/admin/dashboards/operator',
      summary:
        'The operator dashboard: reviews, searches with no result, installs, webhooks, job queues, GMV',
      tag: 'Dashboards',
      access: OPERATOR,
      query: RangeQuery,
      response: DashboardSchema,
      handler: ({ query }) => analytics.operator(resolveRange(query, analytics.today())),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/admin/dashboards/operator/export',
      summary: 'One chart of the operator dashboard as CSV',
      tag: 'Dashboards',
      access: OPERATOR,
      query: RangeQuery.extend(ExportQuery),
      handler: async ({ query, ctx }) =>
        sendCsv(
          ctx,
          analytics,
          await analytics.operator(resolveRange(query, analytics.today())),
          query.chart,
          'operator',
        ),
    }),
  ];
}
