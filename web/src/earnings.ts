import { request, seg } from './api.ts';
import type { ResponseOf } from './generated/openapi.ts';

/** Partner earnings and operator finance calls of the web app (server/modules/ledger). */
export type Earnings = ResponseOf<'/v1/organizations/{orgId}/earnings', 'get'>;
export type PayoutSummary = ResponseOf<'/v1/organizations/{orgId}/earnings/payouts', 'get'>['data'][number];
export type PayoutDetail = ResponseOf<'/v1/organizations/{orgId}/earnings/payouts/{payoutId}', 'get'>;
export type FinanceOverview = ResponseOf<'/v1/admin/finance/overview', 'get'>;
export type ShareRule = ResponseOf<'/v1/admin/revenue-share/rules', 'get'>['data'][number];

const base = (orgId: string) => `/v1/organizations/${seg(orgId)}/earnings`;

export const earnings = {
  summary: (orgId: string) => request<Earnings>('GET', base(orgId)),
  payouts: (orgId: string) => request<{ data: PayoutSummary[] }>('GET', `${base(orgId)}/payouts`),
  payout: (orgId: string, payoutId: string) =>
    request<PayoutDetail>('GET', `${base(orgId)}/payouts/${seg(payoutId)}`),
  /** A plain link: the browser downloads it with the session cookie. */
  statementUrl: (orgId: string) => `${base(orgId)}/statement.csv`,
};

export const finance = {
  overview: () => request<FinanceOverview>('GET', '/v1/admin/finance/overview'),
  runs: () => request<{ data: Array<Record<string, unknown>> }>('GET', '/v1/admin/finance/payout-runs'),
  runPayouts: () => request<Record<string, unknown>>('POST', '/v1/admin/finance/payout-runs'),
  reconciliations: () =>
    request<{ data: Array<Record<string, unknown>> }>('GET', '/v1/admin/finance/reconciliations'),
  reconcile: () => request<Record<string, unknown>>('POST', '/v1/admin/finance/reconciliations', {}),
  rules: () => request<{ data: ShareRule[] }>('GET', '/v1/admin/revenue-share/rules'),
  taxUrl: (year: number) => `/v1/admin/finance/tax/${year}?format=csv`,
};

/** Minor units as money for people ("$1,234.56", "¥500"); the exponent is the currency's own. */
export function formatMoney(minor: number, currency: string): string {
  const f = new Intl.NumberFormat(undefined, { style: 'currency', currency });
  const digits = f.resolvedOptions().maximumFractionDigits ?? 2;
  return f.format(minor / 10 ** digits);
}
