import { z } from 'zod';
import { defineModule } from '../module.ts';
import { createInstallationAdmission, type InstallationAdmission } from './gate.ts';
import { installationRoutes } from './routes.ts';
import { createInstallationsService, type InstallationsService as InstallationStore } from './service.ts';
import { createInstalledAppsView } from './views.ts';

export type { InstallationGate, InstallationGateInput } from './gate.ts';
export { InstallationSchema, InstalledAppSchema } from './schemas.ts';
export type {
  CreateInstallationInput,
  Installation,
  UninstallTarget,
} from './service.ts';

/** The installations module's service: its store and the `installation.gate` admission. */
export type InstallationsService = InstallationStore & InstallationAdmission;

declare module '../module.ts' {
  interface ModuleServices {
    installations: InstallationsService;
  }
}

/** Which apps are installed in which accounts, with the scopes granted. */
export default defineModule({
  name: 'installations',
  requires: ['audit', 'events', 'organizations'],
  // The installed-apps page describes apps and people; uninstalling also revokes the OAuth grant.
  routesUse: ['apps', 'identity', 'oauth'],
  tables: ['installations'],
  eventTypes: [
    {
      type: 'app.installed',
      description: 'An app was installed in an account.',
      scope: null,
      payload: z.object({
        installationId: z.string(),
        accountId: z.string(),
        appId: z.string(),
        versionId: z.string(),
        grantedScopes: z.array(z.string()),
      }),
    },
    {
      type: 'app.uninstalled',
      description: 'An app was uninstalled from an account.',
      scope: null,
      payload: z.object({
        installationId: z.string(),
        accountId: z.string(),
        appId: z.string(),
        // Why it closed (uninstalled_by_account, uninstalled_by_app, revoked, ...): developers' dashboards chart it.
        reason: z.string().optional(),
      }),
    },
  ],
  createService: ({ db, audit, events, extensions, organizations }) =>
    Object.assign(
      createInstallationsService({
        db,
        audit,
        events,
        checkLimit: (q, accountId, count) =>
          organizations.checkLimit(q, { organizationId: accountId, resource: 'installations' }, count),
      }),
      createInstallationAdmission(extensions),
    ),
  routes: ({ installations, oauth, apps, identity, scopes, config }) =>
    installationRoutes({
      installations,
      uninstall: (org, id) => oauth.uninstall(org, id),
      describe: createInstalledAppsView({
        apps,
        users: (ids) => identity.usersByIds(ids),
        scopes,
        baseUrl: config.baseUrl,
      }),
    }),
});
