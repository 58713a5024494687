import { defineModule } from '../module.ts';
import { agencyManagementRoutes } from './resale-routes.ts';
import { agencyRoutes } from './routes.ts';
import { type AgencyService, createAgencyService } from './service.ts';

export type { BulkInstallOutcome, BulkInstallResult, GrantStore } from './bulk-install.ts';
export type { AgencyService } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    agency: AgencyService;
  }
}

/**
 * Agencies acting on their sub-accounts: bulk installs, sub-account templates,
 * app resale at the agency's price (`marketplace.pricing`, a hidden app refused
 * by `installation.gate`), pausing a sub-account that does not pay, and the
 * agency dashboard.
 */
export default defineModule({
  name: 'agency',
  requires: [
    'apps',
    'audit',
    'contacts',
    'events',
    'installations',
    'ledger',
    'marketplace',
    'oauth',
    'organizations',
    'payments',
  ],
  tables: [
    'agency_templates',
    'agency_template_applications',
    'agency_sub_account_themes',
    'agency_prices',
    'agency_price_changes',
    'agency_resale_settings',
    'agency_pauses',
    'agency_provisionings',
  ],
  createService: (deps) => createAgencyService(deps),
  routes: ({ agency }) => [...agencyRoutes({ agency }), ...agencyManagementRoutes({ agency })],
});
