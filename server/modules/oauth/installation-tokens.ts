import type Provider from 'oidc-provider';
import type { Config } from '../../config.ts';
import { forbidden } from '../../errors.ts';
import { oauthRequest } from './adapter.ts';
import { apiResourceOf, apiResourceServerInfo } from './provider.ts';

/**
 * Tokens for an installation the app did not receive through the code flow
 * (an agency installed it into several sub-accounts at once). The app asks
 * with its client-credentials token (`POST /v1/app/installations/:id/token`)
 * and gets what the token endpoint gives after a code exchange: a JWT access
 * token and a refresh token for the installation's grant.
 *
 * Minted through oidc-provider's own models, as its authorization_code grant
 * does (`issueTokens`): a `RefreshToken` (same TTL, rotated by the token
 * endpoint on first use, reuse revokes the grant) and an `AccessToken` for
 * the Plaza API resource server (same definition as the provider's, so the
 * same format, signing key, TTL and claims; `extraTokenClaims` adds the
 * `plaza_*` claims and refuses an installation that is gone). The refresh
 * token is saved first, so the access token is linked to it like a refreshed
 * pair (the refresh grace window can invalidate it). Every call starts a new
 * refresh-token chain on the same grant; uninstalling revokes them all.
 */
export interface InstallationTokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/** Marks refresh tokens that started here rather than at a code exchange (`gty`). */
export const INSTALLATION_GTY = 'plaza_installation';

export function createInstallationTokenMinter(deps: {
  provider: Provider;
  config: Config;
  /** Every scope an API token may carry (the scope catalog). */
  apiScopes: () => string[];
}) {
  const { provider, config } = deps;
  const resource = apiResourceOf(config);

  /**
   * Issues a token pair for `grantId`. Undefined when the grant is not this
   * client's for this account (revoked, expired, another app's); 403 when the
   * client is not an active app any more (suspended, unpublished).
   */
  return async function mint(input: {
    clientId: string;
    grantId: string;
    accountId: string;
    ip?: string | null;
    requestId?: string | null;
  }): Promise<InstallationTokenResponse | undefined> {
    const client = await provider.Client.find(input.clientId);
    if (!client) throw forbidden('this app cannot get tokens now: it is suspended or unpublished');
    const grant = await provider.Grant.find(input.grantId);
    if (!grant || grant.clientId !== client.clientId || grant.accountId !== input.accountId) return undefined;
    const granted = (grant.getResourceScope(resource) ?? '').split(' ').filter(Boolean);
    if (granted.length === 0) return undefined;

    // What the token endpoint would know about this request (the adapter reads it).
    const state = {
      endpoint: 'token' as const,
      clientId: client.clientId,
      ip: input.ip ?? null,
      requestId: input.requestId ?? null,
    };
    return oauthRequest.run(state, async () => {
      const refresh = new provider.RefreshToken({
        accountId: input.accountId,
        client,
        expiresWithSession: false,
        grantId: grant.jti,
        gty: INSTALLATION_GTY,
        resource,
        rotations: 0,
        scope: granted.join(' '),
      });
      const refreshToken = await refresh.save();

      const access = new provider.AccessToken({
        accountId: input.accountId,
        client,
        expiresWithSession: false,
        grantId: grant.jti,
        gty: INSTALLATION_GTY,
      });
      access.resourceServer = new provider.ResourceServer(
        resource,
        apiResourceServerInfo(config, deps.apiScopes()),
      );
      const server = access.resourceServer as unknown as { scopes: Set<string> };
      access.scope = grant.getResourceScopeFiltered(
        resource,
        granted.filter((s) => server.scopes.has(s)),
      );
      const accessToken = await access.save();
      return {
        access_token: accessToken,
        token_type: access.tokenType,
        expires_in: access.expiration,
        refresh_token: refreshToken,
        scope: access.scope ?? '',
      };
    });
  };
}
