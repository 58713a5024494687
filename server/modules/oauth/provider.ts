import type { Context } from 'koa';
import Provider, {
  type Configuration,
  errors,
  interactionPolicy,
  type KoaContextWithOIDC,
} from 'oidc-provider';
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import type { SigningKeys } from './keys.ts';

/**
 * THE OAuth provider configuration: every oidc-provider option Plaza sets is
 * here, with why. Behaviour in short:
 *
 * - Issuer `${PLAZA_PUBLIC_URL}/oauth`, discovery at
 *   `/oauth/.well-known/openid-configuration` (and `/.well-known/oauth-authorization-server`),
 *   keys at `/oauth/jwks`, authorize `/oauth/auth`, token `/oauth/token`,
 *   revocation `/oauth/token/revocation`.
 * - Clients are apps of the registry (the `Client` adapter), confidential,
 *   `client_secret_basic` only; grants authorization_code (+ PKCE S256,
 *   always), refresh_token (always rotated) and client_credentials; response
 *   type `code` only. No implicit, no password grant, no DPoP, no PAR, no
 *   dynamic registration, no userinfo, no introspection: less surface.
 * - The OAuth subject (`sub`) is the ACCOUNT organization an app is installed
 *   in, not a person: a token is an installation. A person picks the account
 *   on Plaza's own pages (interactions.ts) on every authorization request; a
 *   grant is only ever reused through that page, for the account chosen there.
 * - Access tokens are JWTs (ES256, `typ: at+jwt`) for one resource, the Plaza
 *   API `${PLAZA_PUBLIC_URL}/v1`, with `scope` (granted scopes only),
 *   `client_id`, `plaza_account`, `plaza_app`, `plaza_installation`.
 *   Client-credentials tokens carry `plaza_app` only and no scope.
 */
export interface ProviderHooks {
  /** The OAuth adapter factory (adapter.ts). */
  adapter: (model: string) => unknown;
  /** The metadata object the Client adapter would give for this client now from its short-lived copy, if any. */
  verifiedClientMetadata(clientId: string): object | undefined;
  /** Claims of the account organization `sub`, or undefined when it is not an account. */
  findAccount(accountId: string): Promise<{ name: string } | undefined>;
  /**
   * Extra access-token claims (Plaza's `plaza_*` claims); throws an OAuth error
   * to refuse issuing. `ctx` is undefined for tokens minted outside a provider
   * request (installation-tokens.ts): read the client from `token.client`.
   */
  extraTokenClaims(
    ctx: KoaContextWithOIDC | undefined,
    token: any,
  ): Promise<Record<string, unknown> | undefined>;
  /** Scopes any Plaza API token may carry (the scope catalog, read when asked: plugins add scopes). */
  apiScopes(): string[];
  /** Scopes some version of the client's app declares (live or in development). */
  declaredScopes(clientId: string): Promise<string[]>;
  renderError(ctx: Context, out: { error: string; error_description?: string }, error: Error): Promise<void>;
}

export interface ProviderSettings {
  config: Config;
  secret: string;
  keys: SigningKeys;
  log: Logger;
  hooks: ProviderHooks;
  /** The issuer when it is not the platform's: a verified agency domain (`https://app.agency.com/oauth`). */
  issuer?: string;
}

const OIDC_SCOPES = new Set(['openid', 'offline_access']);
const CORS_HEADERS = [
  'Access-Control-Allow-Origin',
  'Access-Control-Allow-Methods',
  'Access-Control-Allow-Headers',
  'Access-Control-Max-Age',
  'Access-Control-Expose-Headers',
];

/** The issuer and the one resource (audience) Plaza issues access tokens for. */
export const issuerOf = (config: Config) => `${config.baseUrl}/oauth`;
export const apiResourceOf = (config: Config) => `${config.baseUrl}/v1`;

/**
 * The Plaza API as oidc-provider's resource server: JWT access tokens (ES256)
 * for `apiResourceOf(config)` with the given scopes. The token endpoint and
 * the app-level token route (installation-tokens.ts) use this one definition.
 */
export const apiResourceServerInfo = (config: Config, scopes: string[]) => ({
  scope: scopes.join(' '),
  audience: apiResourceOf(config),
  accessTokenTTL: config.oauthAccessTokenTtlSeconds,
  accessTokenFormat: 'jwt' as const,
  jwt: { sign: { alg: 'ES256' as const } },
});

/** Where the provider sends people to sign in, choose the account and consent. */
export const interactionPath = (uid: string) => `/oauth/interaction/${uid}`;

export function createProvider({ config, secret, keys, log, hooks, issuer }: ProviderSettings): Provider {
  const resource = apiResourceOf(config);
  const { Check, Prompt } = interactionPolicy;

  // Every refresh asks for the account behind the grant. A found account is
  // remembered for a minute: its name only feeds ID token claims, and an
  // account that goes away takes its installations with it, which every token
  // request checks (extraTokenClaims). One that is not found is asked again.
  const accounts = new Map<string, { name: string; until: number }>();
  async function findAccount(sub: string): Promise<{ name: string } | undefined> {
    const now = Date.now();
    const hit = accounts.get(sub);
    if (hit && hit.until > now) return hit;
    const account = await hooks.findAccount(sub);
    if (accounts.size >= 10_000) accounts.clear();
    if (account) accounts.set(sub, { name: account.name, until: now + 60_000 });
    else accounts.delete(sub);
    return account;
  }

  // One prompt, always: the account must be chosen and the installation approved
  // on Plaza's pages for this very request. Only a request resuming from those
  // pages (carrying their result) goes on to issue a code.
  const policy = [
    new Prompt(
      { name: 'consent', requestable: true },
      new Check(
        'plaza_install',
        'choose the account and approve the app on Plaza',
        'consent_required',
        (ctx: KoaContextWithOIDC) =>
          ctx.oidc.result?.login && ctx.oidc.result?.consent?.grantId
            ? Check.NO_NEED_TO_PROMPT
            : Check.REQUEST_PROMPT,
      ),
    ),
  ];

  const configuration: Configuration = {
    adapter: hooks.adapter as Configuration['adapter'],
    jwks: { keys: keys.privateJwks as any },
    cookies: {
      // Signed with PLAZA_SECRET, like every Plaza cookie.
      keys: [secret],
      names: {
        session: 'plaza_oauth_session',
        interaction: 'plaza_oauth_interaction',
        resume: 'plaza_oauth_resume',
      },
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      id_token_signed_response_alg: 'ES256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
    clientAuthMethods: ['client_secret_basic'],
    // Extra client metadata the Client adapter sets from the registry.
    extraClientMetadata: { properties: ['plaza_app_id'] },
    responseTypes: ['code'],
    pkce: { required: () => true },
    scopes: ['openid'],
    // No CORS for browsers on any client endpoint: Plaza apps are confidential server-side clients.
    clientBasedCORS: () => false,
    features: {
      devInteractions: { enabled: false },
      dPoP: { enabled: false },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      introspection: { enabled: false },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // Every token is for the Plaza API unless the client names a resource (then it must be this one).
        defaultResource: () => resource,
        useGrantedResource: () => true,
        getResourceServerInfo: async (ctx: KoaContextWithOIDC, indicator: string) => {
          if (indicator !== resource)
            throw new errors.InvalidTarget(`Plaza issues tokens only for its API, ${resource}`);
          const requested = String(ctx.oidc.params?.scope ?? '')
            .split(' ')
            .filter((s) => s && !OIDC_SCOPES.has(s));
          // Client credentials act for the app itself: no account scope at all, and asking for one is an error.
          if (ctx.oidc.params?.grant_type === 'client_credentials') {
            if (requested.length)
              throw new errors.InvalidScope(
                `client credentials act for the app itself and carry no scope; ${requested.join(' ')} comes with an installation's token`,
                requested.join(' '),
              );
            return apiResourceServerInfo(config, []);
          }
          // Refused here, before sign-in, so the error reaches the app's redirect URI.
          if (ctx.oidc.route === 'authorization' && ctx.oidc.client) {
            const catalog = new Set(hooks.apiScopes());
            const declared = new Set(await hooks.declaredScopes(ctx.oidc.client.clientId));
            const unknown = requested.filter((s) => !catalog.has(s));
            const undeclared = requested.filter((s) => catalog.has(s) && !declared.has(s));
            if (unknown.length || undeclared.length)
              throw new errors.InvalidScope(
                [
                  unknown.length ? `${unknown.join(', ')}: not a Plaza scope` : '',
                  undeclared.length ? `${undeclared.join(', ')}: not declared by the app's versions` : '',
                ]
                  .filter(Boolean)
                  .join('; '),
                [...unknown, ...undeclared].join(' '),
              );
          }
          return apiResourceServerInfo(config, hooks.apiScopes());
        },
      },
    },
    async findAccount(_ctx, sub) {
      const account = await findAccount(sub);
      if (!account) return undefined;
      return { accountId: sub, claims: async () => ({ sub, name: account.name }) };
    },
    // Never the grant remembered in a browser session (it may be another
    // account's): only the grant Plaza's consent page chose for this request,
    // and only when it belongs to the account and client of the request.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId;
      if (!grantId || !ctx.oidc.account || !ctx.oidc.client) return undefined;
      const grant = await ctx.oidc.provider.Grant.find(grantId);
      if (
        !grant ||
        grant.accountId !== ctx.oidc.account.accountId ||
        grant.clientId !== ctx.oidc.client.clientId
      )
        return undefined;
      return grant;
    },
    extraTokenClaims: (ctx, token) => hooks.extraTokenClaims(ctx, token) as any,
    // Installations are long-lived: a refresh token for every code, rotated on every use.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    // Tokens outlive the browser session of the person who installed the app.
    expiresWithSession: async () => false,
    ttl: {
      AccessToken: config.oauthAccessTokenTtlSeconds,
      ClientCredentials: config.oauthAccessTokenTtlSeconds,
      AuthorizationCode: 60,
      RefreshToken: config.oauthRefreshTokenTtlDays * 24 * 3600,
      // A grant lives as long as its installation; uninstalling revokes it.
      Grant: 100 * 365 * 24 * 3600,
      Interaction: 30 * 60,
      Session: 30 * 60,
      IdToken: 5 * 60,
    },
    interactions: { url: (_ctx, interaction) => interactionPath(interaction.uid), policy: policy as any },
    renderError: (ctx, out, error) => hooks.renderError(ctx as unknown as Context, out as any, error),
  };

  const provider = new Provider(issuer ?? issuerOf(config), configuration);
  // Client.find serializes and hashes a client's metadata on every call to find the client
  // it built for equal metadata. While the Client adapter keeps a verified client's metadata
  // it hands back one object, so the client built from that very object is reused instead.
  const { Client } = provider;
  const findClient = Client.find.bind(Client);
  const builtClients = new WeakMap<object, Awaited<ReturnType<typeof findClient>>>();
  Client.find = async (id: string) => {
    const metadata = typeof id === 'string' ? hooks.verifiedClientMetadata(id) : undefined;
    if (!metadata) return findClient(id);
    let client = builtClients.get(metadata);
    if (!client) {
      client = await findClient(id);
      if (client) builtClients.set(metadata, client);
    }
    return client;
  };
  provider.use(async (ctx, next) => {
    await next();
    const route = (ctx as KoaContextWithOIDC).oidc?.route;
    // Discovery lists the API scopes apps may ask for; no `openid`: Plaza issues no ID tokens.
    if (route === 'discovery' && ctx.body && typeof ctx.body === 'object')
      (ctx.body as Record<string, unknown>).scopes_supported = hooks.apiScopes();
    // The preflight of a client endpoint agrees with the request: no CORS for any origin.
    if (route === 'cors.token' || route === 'cors.revocation') for (const h of CORS_HEADERS) ctx.remove(h);
  });
  // Behind a reverse proxy, X-Forwarded-* decide the request's protocol and host.
  provider.proxy = config.trustProxy;

  // The provider's browser session only carries the chosen account between
  // the consent page and the code; once the code is issued it is dropped, so
  // the next authorization request starts clean (choosing the account again).
  provider.on('authorization.success', (ctx: KoaContextWithOIDC) => {
    (ctx.oidc.session as any).destroyed = true;
  });
  provider.on('server_error', (_ctx: unknown, err: Error) => log.error({ err }, 'oauth provider error'));
  for (const event of ['grant.error', 'authorization.error', 'revocation.error'])
    (provider as unknown as NodeJS.EventEmitter).on(
      event,
      (_ctx: unknown, err: Error & { error?: string; error_description?: string }) =>
        log.debug({ event, error: err.error, detail: err.error_description }, 'oauth request refused'),
    );
  return provider;
}
