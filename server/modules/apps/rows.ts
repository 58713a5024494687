/** Row mappers and SQL helpers of the apps tables, shared by the service's parts. */
import { createHash } from 'node:crypto';
import type { VersionContent } from './diff.ts';
import type { App, VersionSummary } from './model.ts';

/** `%`, `_` and `\` in a search match themselves in an ILIKE pattern. */
export const likePattern = (q: string) => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
export const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
export const iso = (d: Date | null | undefined) => d?.toISOString() ?? null;

export const toApp = (r: any): App => ({
  id: r.id,
  organizationId: r.organization_id,
  slug: r.slug,
  name: r.name,
  clientId: r.client_id,
  status: r.status,
  statusReason: r.status_reason,
  statusChangedAt: iso(r.status_changed_at),
  liveVersionId: r.live_version_id,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

export const contentOf = (r: any): VersionContent => ({
  name: r.name,
  tagline: r.tagline,
  description: r.description,
  category: r.category,
  supportUrl: r.support_url,
  privacyUrl: r.privacy_url,
  termsUrl: r.terms_url,
  redirectUris: r.redirect_uris,
  installUrl: r.install_url ?? null,
  scopes: r.scopes,
  webhookEvents: r.webhook_events,
  pricing: r.pricing,
  iconAssetId: r.icon_asset_id,
  screenshotAssetIds: r.screenshot_asset_ids,
});

export const summaryOf = (r: any): VersionSummary | null =>
  r ? { id: r.id, number: r.number, state: r.state } : null;

/** Columns of app_versions set from VersionFields, in one order for inserts and updates. */
export const FIELD_COLUMNS: Array<[keyof VersionContent, string]> = [
  ['name', 'name'],
  ['tagline', 'tagline'],
  ['description', 'description'],
  ['category', 'category'],
  ['supportUrl', 'support_url'],
  ['privacyUrl', 'privacy_url'],
  ['termsUrl', 'terms_url'],
  ['redirectUris', 'redirect_uris'],
  ['installUrl', 'install_url'],
  ['scopes', 'scopes'],
  ['webhookEvents', 'webhook_events'],
  ['pricing', 'pricing'],
  ['iconAssetId', 'icon_asset_id'],
  ['screenshotAssetIds', 'screenshot_asset_ids'],
];
export const JSON_COLUMNS = new Set(['scopes', 'pricing']);
export const columnValue = (column: string, value: unknown) =>
  JSON_COLUMNS.has(column) ? JSON.stringify(value) : value;
