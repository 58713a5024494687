/**
 * Client for installed apps (an account's installations) and agency bulk
 * installs. Same transport as api.ts (cookies, CSRF, problem+json).
 */
import { collect, type Page, request, seg, withQuery } from './api.ts';

export interface ScopeInWords {
  name: string;
  /** What the scope lets the app do, in plain words. */
  description: string;
  sensitivity: 'basic' | 'personal' | 'financial';
}

export interface InstalledApp {
  id: string;
  accountId: string;
  appId: string;
  versionId: string;
  grantedScopes: string[];
  installedBy: string | null;
  installedByName: string | null;
  status: 'active' | 'uninstalled';
  createdAt: string;
  uninstalledAt: string | null;
  app: { id: string; slug: string; name: string; iconUrl: string | null; status: string };
  version: { id: string; number: number | null };
  scopes: ScopeInWords[];
  upgrade: {
    versionId: string;
    versionNumber: number;
    scopes: Array<ScopeInWords & { optional: boolean }>;
    /** The app's install link: it leads to Plaza's consent page. Null when the app has none. */
    approveUrl: string | null;
  } | null;
}

const base = (orgId: string) => `/v1/organizations/${seg(orgId)}/installations`;

export const installationsApi = {
  list: (orgId: string) => collect<InstalledApp>(base(orgId)),
  uninstall: (orgId: string, installationId: string) =>
    request<{ id: string; status: 'uninstalled' }>('DELETE', `${base(orgId)}/${seg(installationId)}`),
};

export const sensitivityLabels: Record<string, string> = {
  personal: 'Personal data',
  financial: 'Financial',
};

// Agency bulk installs ---------------------------------------------------------------

export interface BulkInstallPreview {
  app: {
    id: string;
    slug: string;
    name: string;
    tagline: string;
    developerName: string;
    iconUrl: string | null;
    privacyUrl: string | null;
    termsUrl: string | null;
    /** The live version; sent back as versionId so a newer one is not installed unseen. */
    version: { id: string; number: number };
  };
  scopes: Array<{
    name: string;
    consentText: string;
    sensitivity: 'basic' | 'personal' | 'financial';
    optional: boolean;
  }>;
  subAccounts: Page<{
    id: string;
    name: string;
    installed: boolean;
    installationId: string | null;
    grantedScopes: string[] | null;
    installable: boolean;
    reason: string | null;
  }>;
}

export type BulkInstallStatus = 'installed' | 'already_installed' | 'not_sub_account' | 'not_installable';

export interface BulkInstallResult {
  app: { id: string; name: string };
  versionId: string | null;
  grantedScopes: string[];
  results: Array<{
    subAccountId: string;
    status: BulkInstallStatus;
    installationId: string | null;
    detail: string | null;
  }>;
  installed: number;
  failed: number;
}

const bulkBase = (orgId: string) => `/v1/organizations/${seg(orgId)}/bulk-installs`;

export const bulkInstallApi = {
  preview: (orgId: string, slug: string, opts: { cursor?: string | null; limit?: number } = {}) =>
    request<BulkInstallPreview>('GET', withQuery(`${bulkBase(orgId)}/apps/${seg(slug)}`, opts)),
  install: (
    orgId: string,
    body: { slug: string; subAccountIds: string[]; scopes: string[]; versionId: string },
  ) => request<BulkInstallResult>('POST', bulkBase(orgId), body),
};
