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
  createService: ({ db, config, audit, jobs, mail, secret }) =>
    createIdentityService({ db, config, audit, jobs, mail, secret }),
  routes: ({ identity, organizations, config }) => identityRoutes({ identity, organizations, config }),
});
