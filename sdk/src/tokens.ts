import { PlazaSdkError } from './errors.ts';

/**
 * What Plaza's token endpoint gave the app, as plain JSON: store it as is
 * (a database row, a file) and hand it back to `plaza.api(tokens)`.
 *
 * An installation's tokens stand for one account: `accountId` and
 * `installationId` come from the access token's claims, so an app can key
 * its storage by them right after the code exchange.
 */
export interface PlazaTokens {
  accessToken: string;
  /** Absent for client-credentials tokens. Plaza rotates it on every refresh: always keep the newest. */
  refreshToken?: string;
  /** When the access token expires, in milliseconds since the epoch. */
  expiresAt: number;
  /** The scopes granted (may be fewer than requested: optional scopes can be unchecked on the consent page). */
  scopes: string[];
  /** The account (`acct_...`) the app is installed in; absent for client-credentials tokens. */
  accountId?: string;
  /** The installation (`inst_...`); absent for client-credentials tokens. */
  installationId?: string;
  /** The app (`app_...`). */
  appId?: string;
}

/** The claims of a JWT, without checking it (the SDK got it straight from the token endpoint over TLS). */
export function decodeJwtClaims(token: string): Record<string, unknown> | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const binary = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === 'object' && !Array.isArray(claims) ? claims : undefined;
  } catch {
    return undefined;
  }
}

const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

/**
 * A token endpoint answer (RFC 6749 §5.1) as `PlazaTokens`. `previous` fills
 * what a refresh answer may leave out (the refresh token when the server
 * does not rotate it, the scopes when unchanged).
 */
export function tokensFromResponse(body: unknown, now = Date.now(), previous?: PlazaTokens): PlazaTokens {
  const b = (body ?? {}) as Record<string, unknown>;
  const accessToken = text(b.access_token);
  if (!accessToken) throw new PlazaSdkError('the token endpoint answered without an access_token');
  if (typeof b.token_type !== 'string' || b.token_type.toLowerCase() !== 'bearer')
    throw new PlazaSdkError(
      `the token endpoint answered with token_type ${String(b.token_type)}, not Bearer`,
    );
  const claims = decodeJwtClaims(accessToken) ?? {};
  const expiresIn = Number(b.expires_in);
  const expiresAt = Number.isFinite(expiresIn)
    ? now + expiresIn * 1000
    : typeof claims.exp === 'number'
      ? claims.exp * 1000
      : now + 5 * 60_000;
  const scope = text(b.scope) ?? (typeof claims.scope === 'string' ? claims.scope : undefined);
  const tokens: PlazaTokens = {
    accessToken,
    expiresAt,
    scopes: scope !== undefined ? scope.split(' ').filter(Boolean) : (previous?.scopes ?? []),
  };
  const refreshToken = text(b.refresh_token) ?? previous?.refreshToken;
  if (refreshToken) tokens.refreshToken = refreshToken;
  const accountId = text(claims.plaza_account) ?? previous?.accountId;
  const installationId = text(claims.plaza_installation) ?? previous?.installationId;
  const appId = text(claims.plaza_app) ?? previous?.appId;
  if (accountId) tokens.accountId = accountId;
  if (installationId) tokens.installationId = installationId;
  if (appId) tokens.appId = appId;
  return tokens;
}
