import { defineModule } from '../module.ts';
import { oauthRoutes } from './routes.ts';
import { createOAuthService, type OAuthService } from './service.ts';

export type { OAuthService, UninstallReason, VerifiedAccessToken } from './service.ts';
export type { Theme, ThemeRequest, ThemeResolver } from './views.ts';

declare module '../module.ts' {
  interface ModuleServices {
    oauth: OAuthService;
  }
  interface ModuleOptions {
    /** How often each process re-reads revocations (ms, default 500). */
    oauth?: { revocationPollMs?: number };
  }
}

/** The OAuth provider and the install flow: clients from the registry, installations on consent. */
export default defineModule({
  name: 'oauth',
  requires: ['apps', 'installations', 'organizations', 'identity'],
  tables: ['oauth_payloads', 'oauth_signing_keys', 'oauth_revocations'],
  createService: (deps) =>
    createOAuthService({ ...deps, revocationPollMs: deps.options.oauth?.revocationPollMs }),
  // Expired provider rows and revocations no access token can need any more.
  jobs: (oauth) => [
    { name: 'oauth.cleanup', everyMs: 15 * 60_000, handler: async () => void (await oauth.cleanup()) },
  ],
  // The app's own installations (tokens, uninstall); agency bulk installs are the agency module's.
  routes: ({ oauth }) => oauthRoutes({ oauth }),
  // Every process keeps the set of revoked installations current (access tokens are checked locally).
  start: (oauth) => oauth.start(),
  // The provider (oidc-provider's configuration and routes) is made on first use or here, after listening.
  warm: (oauth) => oauth.warm(),
  stop: (oauth) => oauth.stop(),
});
