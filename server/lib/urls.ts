/**
 * URL rules for app versions. The same functions validate edits (400 naming
 * the field) and run again in the automated review checks.
 */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Why a redirect URI is not acceptable, or undefined when it is. */
export function redirectUriProblem(uri: string): string | undefined {
  if (uri.includes('*')) return 'must be exact: no wildcards';
  if (uri.includes('#')) return 'must not contain a fragment (#)';
  if (/\s/.test(uri)) return 'must not contain spaces';
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'must be an absolute URL';
  }
  if (u.username || u.password) return 'must not contain a user name or password';
  if (u.protocol === 'https:') return u.hostname ? undefined : 'must name a host';
  if (u.protocol === 'http:') {
    return LOOPBACK_HOSTS.has(u.hostname)
      ? undefined
      : 'must use https (plain http is allowed only for localhost, 127.0.0.1 and [::1])';
  }
  return 'must use https';
}

/** Why a listing URL (support, privacy policy, terms) is not fit for review, or undefined. */
export function publicUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a well-formed URL';
  }
  if (u.protocol !== 'https:') return 'must use https';
  if (!u.hostname || LOOPBACK_HOSTS.has(u.hostname)) return 'must be reachable on the internet';
  return undefined;
}

/**
 * Why an install link (the app's page that starts the OAuth flow) is not
 * acceptable, or undefined: the same rules as a redirect URI (absolute, https
 * or loopback http, no credentials, no wildcard), plus no fragment so that
 * Plaza can add `plaza_url` to its query.
 */
export function installUrlProblem(url: string): string | undefined {
  return redirectUriProblem(url);
}

/**
 * Where the marketplace's Install button sends a person: the app's install
 * link with `plaza_url` (this Plaza's public URL) added to its query, so an
 * app serving several Plazas knows where to start the OAuth flow.
 */
export function installLinkFor(installUrl: string, plazaUrl: string): string {
  const u = new URL(installUrl);
  u.searchParams.set('plaza_url', plazaUrl);
  return u.toString();
}
