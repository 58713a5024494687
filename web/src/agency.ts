import { collect, type FormQuery, type Page, request, seg, withQuery } from './api.ts';
import type { components, QueryOf, RequestBodyOf, ResponseOf } from './generated/openapi.ts';
import { type MarketplaceApp, type MarketplaceAppPage, type MarketplaceQuery, registry } from './registry.ts';
import { currentOrg } from './session.ts';

/** Agency calls of the web app (server/modules/agency): templates, resale, the dashboard, paused accounts. */
type Schemas = components['schemas'];
export type Template = Schemas['SubAccountTemplate'];
export type TemplateInput = RequestBodyOf<'/v1/organizations/{orgId}/templates', 'post'>;
export type ApplyReport = Schemas['TemplateApplyReport'];
export type ResalePrice = Schemas['ResalePrice'];
export type Markup = Schemas['ResaleMarkup'];
export type PriceChange = Schemas['ResalePriceChange'];
export type ResaleSettings = Schemas['ResaleSettings'];
export type Dashboard = Schemas['AgencyDashboard'];
export type DashboardRow = Dashboard['data'][number];
export type DashboardQuery = QueryOf<'/v1/organizations/{orgId}/agency-dashboard', 'get'>;
export type PausedAccount = Schemas['PausedAccount'];

const org = (orgId: string) => `/v1/organizations/${seg(orgId)}`;

export const agency = {
  templates: (orgId: string) =>
    request<{ data: Template[] }>('GET', `${org(orgId)}/templates`).then((r) => r.data),
  createTemplate: (orgId: string, body: TemplateInput) =>
    request<Template>('POST', `${org(orgId)}/templates`, body),
  updateTemplate: (orgId: string, templateId: string, body: TemplateInput) =>
    request<Template>('PUT', `${org(orgId)}/templates/${seg(templateId)}`, body),
  provision: (orgId: string, templateId: string, name: string) =>
    request<ApplyReport>('POST', `${org(orgId)}/templates/${seg(templateId)}/provision`, { name }),
  apply: (orgId: string, templateId: string, subAccountId: string) =>
    request<ApplyReport>('POST', `${org(orgId)}/templates/${seg(templateId)}/apply`, { subAccountId }),
  applications: (orgId: string, templateId: string) =>
    request<ResponseOf<'/v1/organizations/{orgId}/templates/{templateId}/applications', 'get'>>(
      'GET',
      `${org(orgId)}/templates/${seg(templateId)}/applications`,
    ).then((r) => r.data),

  prices: (orgId: string) =>
    request<{ data: ResalePrice[] }>('GET', `${org(orgId)}/resale/prices`).then((r) => r.data),
  setPrice: (orgId: string, appId: string, markup: Markup) =>
    request<ResalePrice>('PUT', `${org(orgId)}/resale/prices/${seg(appId)}`, markup),
  removePrice: (orgId: string, appId: string) =>
    request<void>('DELETE', `${org(orgId)}/resale/prices/${seg(appId)}`),
  priceChanges: (orgId: string) => collect<PriceChange>(`${org(orgId)}/resale/price-changes`, 2),
  rollback: (orgId: string, changeId: string) =>
    request<unknown>('POST', `${org(orgId)}/resale/price-changes/${seg(changeId)}/rollback`),
  settings: (orgId: string) => request<ResaleSettings>('GET', `${org(orgId)}/resale/settings`),
  setCatalog: (orgId: string, body: { mode: ResaleSettings['mode']; appIds: string[] }) =>
    request<ResaleSettings>('PUT', `${org(orgId)}/resale/catalog`, body),
  setPauseGrace: (orgId: string, days: number) =>
    request<ResaleSettings>('PUT', `${org(orgId)}/resale/pause-grace`, { days }),

  dashboard: (orgId: string, query: Record<string, string | number | null | undefined>) =>
    request<Dashboard>('GET', withQuery(`${org(orgId)}/agency-dashboard`, query)),
  pause: (orgId: string, subAccountId: string, reason?: string) =>
    request<unknown>(
      'POST',
      `${org(orgId)}/sub-accounts/${seg(subAccountId)}/pause`,
      reason ? { reason } : {},
    ),
  resume: (orgId: string, subAccountId: string) =>
    request<unknown>('POST', `${org(orgId)}/sub-accounts/${seg(subAccountId)}/resume`),
  paused: (orgId: string) => request<PausedAccount>('GET', `/v1/paused-accounts/${seg(orgId)}`),
};

/**
 * The marketplace as the person's current organization sees it: a sub-account
 * gets its own offers (its agency's prices, only the apps its agency offers),
 * so its pages never receive the developer's price; anyone else gets the
 * public marketplace.
 */
function subAccountId(): string | null {
  const o = currentOrg.value;
  return o && o.kind === 'account' && o.parentId ? o.id : null;
}

export const marketplaceView = {
  search: (query: FormQuery<MarketplaceQuery>): Promise<Page<MarketplaceApp>> => {
    const id = subAccountId();
    return id
      ? request<Page<MarketplaceApp>>('GET', withQuery(`${org(id)}/offers`, { ...query }))
      : registry.searchMarketplace(query);
  },
  app: (slug: string): Promise<MarketplaceAppPage> => {
    const id = subAccountId();
    return id
      ? request<MarketplaceAppPage>('GET', `${org(id)}/offers/${seg(slug)}`)
      : registry.marketplaceApp(slug);
  },
};
