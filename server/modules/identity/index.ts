import { defineModule } from '../module.ts';
import { identityRoutes } from './routes.ts';
import { createIdentityService, type IdentityService } from './service.ts';

export type { ApiKey, ApiKeyPrincipal, IdentityService, Session, User } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    identity: IdentityService;
  }
}

/** People: sign-up, email verification, sign-in, sessions, password resets and personal API keys. */
export default defineModule({
  name: 'identity',
  requires: ['audit', 'mail'],
  // The profile page lists the person's organizations.
  routesUse: ['organizations'],
  tables: ['users', 'sessions', 'login_failures', 'api_keys', 'password_resets'],
  createService: ({ db, config, audit, mail, secret }) =>
    createIdentityService({ db, config, audit, mail, secret }),
  // Hourly, so expired sessions and stale sign-in failures do not pile up.
  jobs: (identity) => [{ name: 'identity.cleanup', everyMs: 60 * 60_000, handler: () => identity.cleanup() }],
  routes: ({ identity, organizations, config }) => identityRoutes({ identity, organizations, config }),
});
