/**
 * Client for installed apps (an account's installations) and agency bulk
 * installs. Same transport as api.ts (cookies, CSRF, problem+json).
 */
import { collect, request, seg } from './api.ts';

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
