import { request, seg } from './api.ts';
import type { QueryOf, ResponseOf } from './generated/openapi.ts';

/** The dashboards of the web app (server/modules/analytics): one shape for developers, agencies and operators. */
export type Dashboard = ResponseOf<'/v1/organizations/{orgId}/dashboards/developer', 'get'>;
export type Chart = Dashboard['charts'][number];
export type Stat = Dashboard['stats'][number];
export type RangeQuery = NonNullable<QueryOf<'/v1/admin/dashboards/operator', 'get'>>;
export type DashboardKind = Dashboard['kind'];

function query(q: Record<string, string | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v) p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
}

function base(kind: DashboardKind, orgId: string | null): string {
  return kind === 'operator'
    ? '/v1/admin/dashboards/operator'
    : `/v1/organizations/${seg(orgId ?? '')}/dashboards/${kind}`;
}

export const dashboards = {
  load: (kind: DashboardKind, orgId: string | null, q: RangeQuery & { appId?: string }) =>
    request<Dashboard>('GET', `${base(kind, orgId)}${query(q)}`),
  /** A plain link: the browser downloads the chart's CSV with the session cookie. */
  csvUrl: (kind: DashboardKind, orgId: string | null, q: RangeQuery & { appId?: string }, chart: string) =>
    `${base(kind, orgId)}/export${query({ ...q, chart })}`,
};
