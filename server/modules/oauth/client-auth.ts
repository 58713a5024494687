import { createHmac, randomBytes } from 'node:crypto';
import type { Context, Next } from 'koa';
import { oauthRequest } from './adapter.ts';

/**
 * Client authentication in front of the provider. Plaza stores client secrets
 * hashed (`apps.verifyClientSecret`, with the overlap window after a
 * rotation), while oidc-provider compares a plaintext `client_secret`. So on
 * the endpoints where clients authenticate, this middleware checks the
 * `Authorization: Basic` credentials against the hash and
 * - when they are valid, rewrites the header to carry the internal secret
 *   HMAC(PLAZA_SECRET, client id) that the Client adapter hands the provider;
 * - when they are not, rewrites it to a random value, which fails.
 * It touches only the Authorization header, never the body (the provider
 * parses that itself). Secrets sent in the body never match the internal
 * secret, so `client_secret_post` cannot succeed either.
 */
export const CLIENT_AUTH_PATHS = new Set([
  '/oauth/token',
  '/oauth/token/revocation',
  '/oauth/token/introspection',
]);

// Per PLAZA_SECRET, per client id: the internal secret and the Basic header that carries it.
const internalSecrets = new Map<string, Map<string, { secret: string; header?: string }>>();
function internalEntry(secret: string, clientId: string) {
  let bySecret = internalSecrets.get(secret);
  if (!bySecret) {
    bySecret = new Map();
    internalSecrets.set(secret, bySecret);
  }
  let entry = bySecret.get(clientId);
  if (entry === undefined) {
    entry = {
      secret: createHmac('sha256', secret).update(`plaza-oauth-client:${clientId}`).digest('base64url'),
    };
    if (bySecret.size >= 10_000) bySecret.clear();
    bySecret.set(clientId, entry);
  }
  return entry;
}
export function internalClientSecret(secret: string, clientId: string): string {
  return internalEntry(secret, clientId).secret;
}

// RFC 6749 2.3.1: client id and secret are form-urlencoded before base64.
const formEncode = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
const formDecode = (v: string) => decodeURIComponent(v.replace(/\+/g, '%20'));
const basicHeader = (clientId: string, secret: string) =>
  `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(secret)}`).toString('base64')}`;

/** The Basic credentials of a request, or undefined when it has none that parse. */
export function basicCredentials(header: string): { clientId: string; secret: string } | undefined {
  const match = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(header.trim());
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i <= 0) return undefined;
  try {
    return { clientId: formDecode(decoded.slice(0, i)), secret: formDecode(decoded.slice(i + 1)) };
  } catch {
    return undefined;
  }
}

export function clientSecretMiddleware(opts: {
  secret: string;
  /** Does this secret belong to this client (an active app)? */
  verify: (clientId: string, secret: string) => Promise<boolean>;
}) {
  return async (ctx: Context, next: Next) => {
    if (ctx.method !== 'POST' || !CLIENT_AUTH_PATHS.has(ctx.path)) return next();
    const header = ctx.get('authorization');
    const creds = header ? basicCredentials(header) : undefined;
    if (creds) {
      const ok = await opts.verify(creds.clientId, creds.secret);
      let rewritten: string;
      if (ok) {
        // Made once per client: every token request of a client carries the same one.
        const entry = internalEntry(opts.secret, creds.clientId);
        rewritten = entry.header ??= basicHeader(creds.clientId, entry.secret);
      } else rewritten = basicHeader(creds.clientId, randomBytes(32).toString('base64url'));
      ctx.req.headers.authorization = rewritten;
      const state = oauthRequest.getStore();
      if (state && ok) state.clientId = creds.clientId;
    }
    return next();
  };
}
