import { defineModule } from '../module.ts';
import { agencyRoutes } from './routes.ts';
import { type AgencyService, createAgencyService } from './service.ts';

export type { BulkInstallOutcome, BulkInstallResult, GrantStore } from './bulk-install.ts';
export type { AgencyService } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    agency: AgencyService;
  }
}

/** Agencies acting on their sub-accounts: bulk installs (a grant and an installation per sub-account). */
export default defineModule({
  name: 'agency',
  requires: ['apps', 'audit', 'installations', 'marketplace', 'oauth', 'organizations'],
  createService: (deps) => createAgencyService(deps),
  routes: ({ agency }) => agencyRoutes({ agency }),
});
