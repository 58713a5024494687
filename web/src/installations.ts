/**
 * Client for installed apps (an account's installations) and agency bulk
 * installs. Same transport as api.ts (cookies, CSRF, problem+json).
 */
import { collect, request, seg, withQuery } from './api.ts';
import type {
  BulkInstallPreview,
  BulkInstallResult,
  components,
  InstalledApp,
  RequestBodyOf,
} from './generated/openapi.ts';

export type { BulkInstallPreview, BulkInstallResult, InstalledApp } from './generated/openapi.ts';

/** A granted scope in plain words. */
export type ScopeInWords = InstalledApp['scopes'][number];

const base = (orgId: string) => `/v1/organizations/${seg(orgId)}/installations`;

export const installationsApi = {
  list: (orgId: string) => collect<InstalledApp>(base(orgId)),
  uninstall: (orgId: string, installationId: string) =>
    request<components['schemas']['Installation']>('DELETE', `${base(orgId)}/${seg(installationId)}`),
};

export const sensitivityLabels: Record<string, string> = {
  personal: 'Personal data',
  financial: 'Financial',
};

// Agency bulk installs ---------------------------------------------------------------

export type BulkInstallStatus = BulkInstallResult['results'][number]['status'];

const bulkBase = (orgId: string) => `/v1/organizations/${seg(orgId)}/bulk-installs`;

export const bulkInstallApi = {
  preview: (orgId: string, slug: string, opts: { cursor?: string | null; limit?: number } = {}) =>
    request<BulkInstallPreview>('GET', withQuery(`${bulkBase(orgId)}/apps/${seg(slug)}`, opts)),
  install: (orgId: string, body: RequestBodyOf<'/v1/organizations/{orgId}/bulk-installs', 'post'>) =>
    request<BulkInstallResult>('POST', bulkBase(orgId), body),
};
