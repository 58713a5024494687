import type { Db } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';
import type { ScopeCatalog } from '../../scopes.ts';
import type { AppsService } from '../apps/index.ts';
import type { AuditService } from '../audit/index.ts';
import type { InstallationsService } from '../installations/index.ts';
import type { MarketplaceService } from '../marketplace/index.ts';
import type { OAuthService } from '../oauth/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import { createBulkInstaller } from './bulk-install.ts';

export interface AgencyDeps {
  db: Db;
  log: Logger;
  scopes: ScopeCatalog;
  apps: AppsService;
  audit: AuditService;
  installations: InstallationsService;
  marketplace: MarketplaceService;
  oauth: OAuthService;
  organizations: OrganizationsService;
}

/** What agencies do across their sub-accounts: today, installing an app into many at once. */
export function createAgencyService(deps: AgencyDeps) {
  const bulk = createBulkInstaller({ ...deps, grants: deps.oauth.grants });
  return {
    /**
     * An agency owner or admin installs an app into several of its
     * sub-accounts (bulk-install.ts): a grant and an installation each,
     * reported per sub-account.
     */
    bulkInstall: bulk.install,
    /** The bulk-install page: the app's scopes in plain words and which sub-accounts have it. */
    bulkInstallPreview: bulk.preview,
  };
}

export type AgencyService = ReturnType<typeof createAgencyService>;
