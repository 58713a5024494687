import type Router from '@koa/router';
import type { Redis } from 'ioredis';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { Context, Next } from 'koa';
import mount from 'koa-mount';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../../config.ts';
import type { Db } from '../../db/index.ts';
import { conflict, forbidden, notFound } from '../../errors.ts';
import type { RateLimiter } from '../../http/rate-limit.ts';
import { withCompensation } from '../../lib/compensation.ts';
import type { ExtensionRegistry } from '../../lib/extension-points.ts';
import { redirectUriProblem } from '../../lib/urls.ts';
import type { Logger } from '../../logger.ts';
import type { ScopeCatalog } from '../../scopes.ts';
import { type Actor, hasRole, type OrgContext, SYSTEM_ACTOR } from '../../tenancy.ts';
import type { AppsService } from '../apps/index.ts';
import type { IdentityService } from '../identity/index.ts';
import type { Installation, InstallationsService, UninstallTarget } from '../installations/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import { createAdapterFactory, type OAuthRequestState, oauthRequest } from './adapter.ts';
import { clientSecretMiddleware, internalClientSecret } from './client-auth.ts';
import { createInstallationTokenMinter, type InstallationTokenResponse } from './installation-tokens.ts';
import { type ApproveInput, interactionRoutes } from './interactions.ts';
import { loadSigningKeys } from './keys.ts';
import { apiResourceOf, createProvider, issuerOf, type ProviderHooks } from './provider.ts';
import { createRevocationSet } from './revocations.ts';
import { tokenRateLimit } from './token-rate-limit.ts';
import {
  createViews,
  DEFAULT_THEME,
  safeTheme,
  type Theme,
  type ThemeResolver,
  type WhiteLabel,
} from './views.ts';

declare module '../../lib/extension-points.ts' {
  interface ExtensionPoints {
    /** Partial themes per request; values are checked (hex colours, https logos) before use. */
    'oauth.theme': ThemeResolver;
    /** The white-label layer (the branding module): base themes and the agency hosts Plaza issues tokens on. */
    'oauth.whiteLabel': WhiteLabel;
  }
}

/**
 * The OAuth module: Plaza's authorization server (oidc-provider, configured
 * in provider.ts) with its state in PostgreSQL (adapter.ts), clients from the
 * app registry, Plaza's sign-in / account / consent pages (interactions.ts),
 * installation on consent, uninstall with revocation, and the access-token
 * check the API uses (`verifyAccessToken`).
 */
export interface VerifiedAccessToken {
  /** The account the app is installed in; null for client-credentials tokens (the app itself). */
  accountId: string | null;
  appId: string;
  installationId: string | null;
  clientId: string;
  /** Granted scopes the token carries. */
  scopes: string[];
}

/** Access tokens kept verified per process (oldest dropped first). */
const VERIFIED_TOKENS_KEPT = 10_000;

export type UninstallReason =
  | 'uninstalled_by_account'
  | 'uninstalled_by_app'
  | 'revoked_by_app'
  | 'token_reuse'
  | 'revoked';

export interface OAuthDeps {
  db: Db;
  config: Config;
  secret: string;
  log: Logger;
  redis?: Redis;
  apps: AppsService;
  installations: InstallationsService;
  organizations: OrganizationsService;
  identity: IdentityService;
  scopes: ScopeCatalog;
  /** Where the `oauth.theme` extension point is defined. */
  extensions: ExtensionRegistry;
  /** Counts token and revocation requests per client (shared through Redis when there is one). */
  rateLimiter: RateLimiter;
  /** How often each process re-reads recent revocations (ms, default 500). */
  revocationPollMs?: number;
}

export type OAuthService = Awaited<ReturnType<typeof createOAuthService>>;

const CSP = [
  "default-src 'none'",
  // form_post responses add the hash of their one inline script here.
  "script-src 'self'",
  "style-src 'unsafe-inline'",
  "img-src 'self' https: data:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

const ERROR_TEXT: Record<string, { heading: string; message: string }> = {
  invalid_redirect_uri: {
    heading: 'This link does not go back to the app',
    message:
      'The app asked Plaza to send you to an address it has not registered, so Plaza will not send you anywhere. Tell the app’s developer.',
  },
  invalid_client: {
    heading: 'Unknown app',
    message: 'This app is not known to Plaza or cannot be installed now.',
  },
  invalid_request: { heading: 'This request is not valid', message: 'The app sent an invalid request.' },
  unsupported_response_type: {
    heading: 'This request is not valid',
    message: 'Plaza only issues authorization codes (response_type=code).',
  },
};

export async function createOAuthService(deps: OAuthDeps) {
  const { db, config, secret, log, apps, installations, organizations, scopes } = deps;
  const issuer = issuerOf(config);
  const resource = apiResourceOf(config);
  const keys = await loadSigningKeys(db, secret);
  const jwks = createLocalJWKSet({ keys: keys.publicJwks as any });
  // Access tokens whose signature, audience and type were checked, by the exact token
  // string: an app sends the same token on every call for its lifetime, and the ES256
  // check was the largest cost of an app API request (170-240 us). The keys above never
  // change while the process runs; expiry, issuer and revocations are checked on every call.
  const verifiedTokens = new Map<string, Record<string, unknown>>();
  const views = createViews();
  // White-label: one plugin may theme the OAuth pages per domain or per account.
  const themes = deps.extensions.define('oauth.theme', {
    owner: 'oauth',
    single: true,
    description: 'Themes the sign-in, consent and error pages per host or account (white-label)',
  });
  const whiteLabels = deps.extensions.define('oauth.whiteLabel', {
    owner: 'oauth',
    single: true,
    description:
      'Agency brands under the oauth.theme layer, and the verified agency hosts that are OAuth issuers',
  });
  const whiteLabel = () => whiteLabels.list()[0]?.value;
  const platformProtocol = new URL(config.baseUrl).protocol;
  /** An issuer of a verified agency domain: `<scheme>://<host>/oauth`, https or the platform's scheme. */
  function isAgencyIssuer(iss: string): boolean {
    const wl = whiteLabel();
    if (!wl) return false;
    try {
      const u = new URL(iss);
      return (
        u.pathname === '/oauth' &&
        !u.search &&
        (u.protocol === 'https:' || u.protocol === platformProtocol) &&
        wl.isIssuerHost(u.hostname)
      );
    } catch {
      return false;
    }
  }
  const revocations = createRevocationSet({
    db,
    log,
    accessTokenTtlSeconds: config.oauthAccessTokenTtlSeconds,
    pollMs: deps.revocationPollMs ?? 500,
    redis: deps.redis,
    redisChannel: `${config.redisPrefix}:oauth:revocations`,
  });

  // The agency's brand first (host, then account), then what a plugin's resolver changes.
  async function theme(ctx: Context, accountId: string | null): Promise<Theme> {
    const layers = [whiteLabel()?.theme, themes.list()[0]?.value].filter((r) => r !== undefined);
    if (!layers.length) return DEFAULT_THEME;
    try {
      let merged: Partial<Theme> = {};
      for (const resolve of layers) merged = { ...merged, ...(await resolve({ host: ctx.host, accountId })) };
      return safeTheme(merged);
    } catch (err) {
      log.warn({ err }, 'oauth theme resolver failed; using the default theme');
      return DEFAULT_THEME;
    }
  }

  /** Who the provider acts as when it revokes on its own (audit). */
  const providerActor = (): Actor => {
    const state = oauthRequest.getStore();
    return { ...SYSTEM_ACTOR, ip: state?.ip ?? null, requestId: state?.requestId ?? null };
  };

  /**
   * Closes an installation and takes back everything of it in one
   * transaction: the installation row (app.uninstalled through the outbox),
   * its grant with every code and refresh token, and a revocation entry that
   * every process learns within a second (its access tokens are refused).
   */
  async function revokeInstallation(
    target: UninstallTarget,
    actor: Actor,
    reason: UninstallReason,
  ): Promise<Installation | undefined> {
    return db.transaction(async (tx) => {
      const inst = await installations.uninstallWhere(target, actor, reason, tx);
      if (!inst) return undefined;
      if (inst.grantId) await tx.query('DELETE FROM oauth_payloads WHERE grant_id = $1', [inst.grantId]);
      await revocations.record(tx, { kind: 'installation', subject: inst.id, reason });
      return inst;
    });
  }

  async function clientMetadata(clientId: string) {
    const app = await apps.oauthClient(clientId);
    // Suspended or unpublished apps are not clients at all: no new grants, no refresh, no client credentials.
    if (app?.status !== 'active') return undefined;
    const redirectUris = [
      ...new Set([...(app.live?.redirectUris ?? []), ...(app.open?.redirectUris ?? [])]),
    ].filter((uri) => !redirectUriProblem(uri));
    return {
      client_id: app.clientId,
      client_secret: internalClientSecret(secret, app.clientId),
      client_name: app.name,
      plaza_app_id: app.appId,
      application_type: 'web',
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: redirectUris,
      response_types: redirectUris.length ? ['code'] : [],
      grant_types: [
        ...(redirectUris.length ? ['authorization_code'] : []),
        'refresh_token',
        'client_credentials',
      ],
    };
  }

  const storage = createAdapterFactory({
    db,
    refreshGraceSeconds: () => config.oauthRefreshGraceSeconds,
    findClient: clientMetadata,
    onGrantRevoked: async (grantId, reason) => {
      await revokeInstallation({ grantId }, providerActor(), reason);
    },
    onPairReplaced: (tx, jti, expiresAt) =>
      revocations.record(tx, { kind: 'token', subject: jti, reason: 'refresh_retry', expiresAt }),
  });

  /**
   * The open installation behind a grant, for the claims of an access token.
   * Which installation holds a grant (its id, account and app) never changes
   * once it holds it, so each process remembers it. Whether it is still open
   * is read from the database, except for a refresh at the token endpoint:
   * there the rotation is written only while the presented refresh token is
   * still there and unused and its grant row still exists (adapter.ts,
   * flushRotation). Closing an installation deletes its grant with every
   * refresh token in the same transaction (revokeInstallation, the one way an
   * installation with a grant closes), so a rotation that succeeds proves the
   * installation open, as exactly as reading it would.
   */
  const grantInstallations = new Map<string, { id: string; accountId: string; appId: string }>();
  async function openInstallationOf(grantId: string | undefined) {
    if (!grantId) return undefined;
    const state = oauthRequest.getStore();
    const known = grantInstallations.get(grantId);
    if (
      known &&
      state?.pendingRefresh &&
      state.grant?.id === grantId &&
      state.grant.payload !== undefined &&
      !revocations.hasInstallation(known.id)
    )
      return known;
    const inst = await installations.findByGrantId(grantId);
    if (inst?.status !== 'active') return undefined;
    if (grantInstallations.size >= 100_000) grantInstallations.clear();
    const facts = { id: inst.id, accountId: inst.accountId, appId: inst.appId };
    grantInstallations.set(grantId, facts);
    return facts;
  }

  const hooks: ProviderHooks = {
    adapter: storage.adapter,
    verifiedClientMetadata: storage.verifiedClientMetadata,
    async findAccount(accountId) {
      const org = await organizations.byId(accountId);
      return org?.kind === 'account' ? { name: org.name } : undefined;
    },
    async extraTokenClaims(ctx: KoaContextWithOIDC | undefined, token: any) {
      const appId = ((ctx?.oidc?.client ?? token.client) as any)?.plaza_app_id as string | undefined;
      if (!appId) throw new errors.InvalidClient('not a Plaza app');
      if (token.kind === 'ClientCredentials') return { plaza_app: appId };
      if (token.kind !== 'AccessToken') return undefined;
      const inst = await openInstallationOf(token.grantId);
      if (!inst || inst.appId !== appId)
        throw new errors.InvalidGrant('the installation behind this grant was removed');
      const exp = token.exp ?? Math.floor(Date.now() / 1000) + token.expiration;
      await storage.linkAccessToken(token.jti, exp);
      return { plaza_account: inst.accountId, plaza_app: inst.appId, plaza_installation: inst.id };
    },
    apiScopes: () => scopes.list().map((s) => s.name),
    async declaredScopes(clientId) {
      const app = await apps.oauthClient(clientId);
      return [...(app?.live?.scopes ?? []), ...(app?.open?.scopes ?? [])].map((s) => s.name);
    },
    async renderError(ctx, out) {
      const known = ERROR_TEXT[out.error];
      views.render(
        ctx,
        'error',
        {
          title: known?.heading ?? 'This request cannot go on',
          heading: known?.heading ?? 'This request cannot go on',
          message: known?.message ?? out.error_description ?? 'The request could not be completed.',
          code: out.error,
          theme: await theme(ctx, null),
          homeUrl: config.baseUrl,
        },
        ctx.status && ctx.status >= 400 ? ctx.status : 400,
      );
    },
  };
  // One provider per issuer: on a verified agency domain Plaza is that host's
  // authorization server (discovery, cookies and pages on that host), sharing
  // the keys, the storage and the hooks with the platform's. Made when first asked,
  // the platform's too (`warm()` makes it once the server listens): nothing before
  // the first OAuth request needs it, and building it was part of every start.
  type Mounted = {
    provider: ReturnType<typeof createProvider>;
    app: (ctx: any, next: Next) => Promise<unknown>;
  };
  const mounted = (iss?: string): Mounted => {
    const p = createProvider({ config, secret, keys, log, hooks, issuer: iss });
    return { provider: p, app: mount('/oauth', p) as Mounted['app'] };
  };
  let platformProvider: Mounted | undefined;
  const platform = () => (platformProvider ??= mounted());
  const agencyProviders = new Map<string, Mounted>();
  function providerOf(ctx: Context): Mounted {
    const wl = whiteLabel();
    if (!wl?.isIssuerHost(ctx.hostname)) return platform();
    const iss = `${ctx.protocol}://${ctx.host}/oauth`;
    let hit = agencyProviders.get(iss);
    if (!hit) {
      hit = mounted(iss);
      if (agencyProviders.size >= 1000) agencyProviders.delete(agencyProviders.keys().next().value as string);
      agencyProviders.set(iss, hit);
    }
    return hit;
  }

  /** Saves the grant for an approved consent and creates or updates the installation. */
  /** Deletes a grant no installation took (never used for tokens). */
  async function discardGrant(grantId: string): Promise<void> {
    await db.query('DELETE FROM oauth_payloads WHERE grant_id = $1', [grantId]);
  }

  async function approve(input: ApproveInput): Promise<string | null> {
    const final = [...new Set([...(input.existing?.grantedScopes ?? []), ...input.granted])].sort();
    if (final.length === 0) return null;
    // A new installation passes the installation gates (paid apps) before anything is saved.
    if (!input.existing)
      await installations.admit({
        accountId: input.accountId,
        appId: input.appId,
        versionId: input.versionId,
        grantedScopes: final,
        actor: input.actor,
        via: 'consent',
      });
    const reuse = input.existing?.grantId ?? undefined;
    // The grant is rebuilt from what the account approved (the installation is the record of it).
    const grant = new (platform().provider.Grant)({ accountId: input.accountId, clientId: input.clientId });
    if (reuse) grant.jti = reuse;
    grant.addResourceScope(resource, final.join(' '));
    const rejected = input.rejected.filter((s) => !final.includes(s));
    if (rejected.length) grant.rejectResourceScope(resource, rejected.join(' '));
    if (input.oidcRequested.length) grant.rejectOIDCScope(input.oidcRequested.join(' '));
    // The provider saves the grant outside the installation's transaction: a compensated step.
    return withCompensation(log, 'consent', async (step) => {
      const grantId = await step('grant', {
        do: () => grant.save(),
        // A reused grant was there before this consent and stays; a new one goes with the failure.
        undo: reuse ? undefined : (id) => discardGrant(id),
      });
      await step('installation', {
        do: () =>
          db.transaction(async (tx) => {
            if (input.existing) {
              const changed =
                input.existing.versionId !== input.versionId ||
                final.join(' ') !== [...input.existing.grantedScopes].sort().join(' ');
              if (changed)
                await installations.changeScopes(
                  {
                    installationId: input.existing.id,
                    versionId: input.versionId,
                    grantedScopes: final,
                    actor: input.actor,
                  },
                  tx,
                );
              if (input.existing.grantId !== grantId)
                await installations.attachGrant(input.existing.id, grantId, tx);
            } else {
              await installations.create(
                {
                  accountId: input.accountId,
                  appId: input.appId,
                  versionId: input.versionId,
                  grantedScopes: final,
                  actor: input.actor,
                  grantId,
                },
                tx,
              );
            }
          }),
      });
      return grantId;
    });
  }

  const interactions = () =>
    interactionRoutes({
      providerOf: (ctx) => providerOf(ctx).provider,
      config,
      secret,
      db,
      log,
      identity: deps.identity,
      organizations,
      apps,
      installations,
      scopes,
      views,
      theme,
      approve,
    });

  let minter: ReturnType<typeof createInstallationTokenMinter> | undefined;
  const mintTokens: NonNullable<typeof minter> = (input) => {
    minter ??= createInstallationTokenMinter({
      provider: platform().provider,
      config,
      apiScopes: () => scopes.list().map((s) => s.name),
    });
    return minter(input);
  };

  /** The calling app's active installation; 404 alike for another app's, an uninstalled or an unknown one. */
  async function ownInstallation(appId: string, installationId: string): Promise<Installation> {
    const inst = await installations.findById(installationId);
    if (inst?.status !== 'active' || inst.appId !== appId) throw notFound('installation');
    return inst;
  }

  const secretCheck = clientSecretMiddleware({
    secret,
    async verify(clientId, presented) {
      const found = await apps.verifyClientSecret(clientId, presented);
      return found?.status === 'active';
    },
  });

  const rateLimit = tokenRateLimit({
    limiter: deps.rateLimiter,
    perClient: () => config.oauthTokenRateLimitPerMinute,
    perAddress: () => config.rateLimitAnonymousPerMinute,
  });

  // Plaza's pages live under /oauth/interaction; the provider's endpoints skip their router.
  // Its router is built on the first request there.
  let pages: [ReturnType<Router['routes']>, ReturnType<Router['allowedMethods']>] | undefined;
  const interactionPages = (ctx: Context, next: Next) => {
    if (!ctx.path.startsWith('/oauth/interaction/')) return next();
    if (!pages) {
      const router = interactions();
      pages = [router.routes(), router.allowedMethods()];
    }
    const [routes, allowed] = pages;
    return routes(ctx as any, () => allowed(ctx as any, next));
  };
  const provide = (ctx: Context, next: Next) => providerOf(ctx).app(ctx, next);
  const stack = [interactionPages, secretCheck, rateLimit, provide] as Array<
    (ctx: Context, next: Next) => Promise<unknown>
  >;
  const oauthStack = (ctx: Context, next: Next) => {
    const dispatch = (i: number): Promise<unknown> =>
      i === stack.length ? next() : stack[i](ctx, () => dispatch(i + 1));
    return dispatch(0);
  };
  // The token endpoint, the busiest: the same steps without the pages' check and the generic dispatch.
  const tokenStack = (ctx: Context, next: Next) =>
    secretCheck(ctx, () => rateLimit(ctx, () => provide(ctx, next)));

  /** Deletes expired provider rows and revocations no access token can need any more. */
  async function cleanup(): Promise<{ payloads: number; revocations: number }> {
    const payloads = await db.query('DELETE FROM oauth_payloads WHERE expires_at < now() RETURNING 1');
    const gone = await db.query(
      `DELETE FROM oauth_revocations
       WHERE (kind = 'installation' AND revoked_at < now() - make_interval(secs => $1))
          OR (kind = 'token' AND expires_at < now()) RETURNING 1`,
      [config.oauthAccessTokenTtlSeconds + 3600],
    );
    return { payloads: payloads.length, revocations: gone.length };
  }

  return {
    /** The platform's provider (made on first use). */
    get provider() {
      return platform().provider;
    },
    /** Makes the platform's provider now, if not yet: once the server listens. */
    warm: () => void platform(),
    issuer,
    /** The audience of every Plaza access token: the API. */
    resource,
    revocations,

    cleanup,

    /** Starts the revocation set (initial load, LISTEN, re-read). */
    start: () => revocations.start(),
    stop: () => revocations.stop(),

    /**
     * Koa middleware serving everything under /oauth: Plaza's interaction
     * pages, then the provider (client secrets checked first). No body parser
     * runs in front of the provider. Every response is unframeable and
     * carries a strict CSP.
     */
    middleware() {
      return async (ctx: Context, next: Next) => {
        const path = ctx.path;
        if (path !== '/oauth' && !path.startsWith('/oauth/')) return next();
        ctx.set('Content-Security-Policy', CSP);
        ctx.set('X-Frame-Options', 'DENY');
        const endpoint =
          path === '/oauth/token' ? 'token' : path === '/oauth/token/revocation' ? 'revocation' : 'other';
        const state: OAuthRequestState & { ip: string | null; requestId: string | null } = {
          endpoint,
          ip: ctx.ip || null,
          requestId: ctx.state.requestId ?? null,
        };
        return oauthRequest.run(state, () =>
          endpoint === 'token' ? tokenStack(ctx, next) : oauthStack(ctx, next),
        );
      };
    },

    /**
     * Verifies an access token locally: ES256 signature against the provider's
     * keys, issuer, audience (the Plaza API), `typ: at+jwt`, expiry, then the
     * revocation set (an uninstalled installation, a replaced token). Null when
     * any check fails. No database read.
     */
    async verifyAccessToken(token: string): Promise<VerifiedAccessToken | null> {
      if (typeof token !== 'string' || token.length > 8192) return null;
      let payload = verifiedTokens.get(token);
      if (payload && (payload.exp as number) + 5 <= Date.now() / 1000) {
        verifiedTokens.delete(token);
        return null;
      }
      if (!payload) {
        try {
          ({ payload } = await jwtVerify(token, jwks, {
            audience: resource,
            algorithms: ['ES256'],
            typ: 'at+jwt',
            clockTolerance: 5,
            requiredClaims: ['exp', 'iat', 'jti', 'client_id', 'plaza_app'],
          }));
        } catch {
          return null;
        }
        if (verifiedTokens.size >= VERIFIED_TOKENS_KEPT) {
          verifiedTokens.delete(verifiedTokens.keys().next().value as string);
        }
        verifiedTokens.set(token, payload);
      }
      // The platform's issuer, or a verified agency domain's while it is active (re-read every second).
      if (payload.iss !== issuer && !(typeof payload.iss === 'string' && isAgencyIssuer(payload.iss)))
        return null;
      const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
      const accountId = str(payload.plaza_account);
      const installationId = str(payload.plaza_installation);
      const appId = str(payload.plaza_app);
      const clientId = str(payload.client_id);
      if (!appId || !clientId || (accountId === null) !== (installationId === null)) return null;
      if (installationId && revocations.hasInstallation(installationId)) return null;
      if (revocations.hasToken(String(payload.jti))) return null;
      return {
        accountId,
        appId,
        installationId,
        clientId,
        scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
      };
    },

    /** An account admin uninstalls an app (DELETE /v1/organizations/:orgId/installations/:id). */
    async uninstall(org: OrgContext, installationId: string): Promise<Installation> {
      if (org.org.kind !== 'account') throw forbidden('only accounts have installations');
      if (!hasRole(org, 'admin')) throw forbidden('uninstalling an app needs the admin or owner role');
      const inst = await revokeInstallation(
        { installationId, accountId: org.org.id },
        org.actor,
        'uninstalled_by_account',
      );
      if (!inst) throw notFound('installation');
      return inst;
    },

    /**
     * Uninstalls an installation (by id, or by account and app) for anyone who
     * already proved the right to: the app itself on an app route with its
     * installation token, or the platform. Undefined when it is not active.
     */
    uninstallInstallation: (
      target: Exclude<UninstallTarget, { grantId: string }>,
      actor: Actor,
      reason: UninstallReason = 'uninstalled_by_app',
    ) => revokeInstallation(target, actor, reason),

    /**
     * Grants made without a consent page (an agency's bulk install): the
     * grant an approved consent would have saved, and its removal when no
     * installation took it.
     */
    grants: {
      async save(input: { accountId: string; clientId: string; granted: string[]; rejected: string[] }) {
        const grant = new (platform().provider.Grant)({
          accountId: input.accountId,
          clientId: input.clientId,
        });
        grant.addResourceScope(resource, input.granted.join(' '));
        if (input.rejected.length) grant.rejectResourceScope(resource, input.rejected.join(' '));
        return grant.save();
      },
      discard: discardGrant,
    },

    /** The app's own active installations (client credentials). */
    listAppInstallations: (appId: string, page: { limit: number; cursor?: string }) =>
      installations.listActiveForApp(appId, page),

    /**
     * The active installations of a developer organization's app, with each
     * account's name (the developer console: webhook endpoint filters,
     * support). 404 when the app is not theirs.
     */
    async listInstallationsForDeveloper(
      ctx: OrgContext,
      appId: string,
      page: { limit: number; cursor?: string },
    ) {
      const app = await apps.get(ctx, appId);
      const found = await installations.listActiveForApp(app.id, page);
      const accounts = await organizations.byIds([...new Set(found.data.map((i) => i.accountId))]);
      return {
        ...found,
        data: found.data.map((i) => ({ ...i, accountName: accounts.get(i.accountId)?.name ?? null })),
      };
    },

    /**
     * Tokens for one of the app's active installations, as the token endpoint
     * gives them after a code exchange (installation-tokens.ts): for
     * installations the app did not get through the code flow (agency bulk
     * installs). 404 for anything that is not the app's active installation.
     */
    async issueInstallationTokens(
      app: { appId: string; clientId: string },
      installationId: string,
      actor: Actor,
    ): Promise<InstallationTokenResponse> {
      const inst = await ownInstallation(app.appId, installationId);
      if (!inst.grantId)
        throw conflict(
          "this installation has no OAuth grant (it was not made through Plaza's install flow), so it has no tokens",
        );
      let tokens: InstallationTokenResponse | undefined;
      try {
        tokens = await mintTokens({
          clientId: app.clientId,
          grantId: inst.grantId,
          accountId: inst.accountId,
          ip: actor.ip,
          requestId: actor.requestId,
        });
      } catch (err) {
        // Uninstalled while the tokens were being made: extraTokenClaims refuses the grant.
        if (err instanceof errors.InvalidGrant) throw notFound('installation');
        throw err;
      }
      if (!tokens) throw notFound('installation');
      return tokens;
    },

    /** The app uninstalls itself from one of its installations (reason uninstalled_by_app). */
    async uninstallForApp(appId: string, installationId: string, actor: Actor): Promise<Installation> {
      await ownInstallation(appId, installationId);
      const inst = await revokeInstallation({ installationId }, actor, 'uninstalled_by_app');
      if (!inst) throw notFound('installation');
      return inst;
    },
  };
}
