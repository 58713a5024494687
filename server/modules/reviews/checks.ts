import { installUrlProblem, publicUrlProblem, redirectUriProblem } from '../../lib/urls.ts';
import type { VersionContent } from '../apps/index.ts';

/**
 * The automated checks a submitted version passes before a person looks at
 * it. Pure: given the version and the catalogs, each check says passed or
 * not and why, in words the developer can act on.
 */
export interface CheckResult {
  check: string;
  title: string;
  passed: boolean;
  reason: string;
}

export interface CheckCatalogs {
  scope(name: string): { sensitivity: 'basic' | 'personal' | 'financial' } | undefined;
  eventType(type: string): { scope: string | null } | undefined;
}

export const MIN_DESCRIPTION_LENGTH = 100;
/** The compliance webhooks an app that reads personal data must handle. */
export const PRIVACY_EVENTS = ['app.data_request', 'app.data_erasure'] as const;

export function runChecks(v: VersionContent, catalogs: CheckCatalogs): CheckResult[] {
  const out: CheckResult[] = [];
  const add = (check: string, title: string, problems: string[], ok: string) =>
    out.push({
      check,
      title,
      passed: problems.length === 0,
      reason: problems.length ? problems.join('; ') : ok,
    });

  // The install link follows the redirect URI rule (https, or http on loopback for development).
  const urls = (['supportUrl', 'privacyUrl', 'termsUrl', 'installUrl'] as const).filter((f) => v[f]);
  add(
    'urls_https',
    'URLs are well-formed and use https',
    urls.flatMap((f) => {
      const p = f === 'installUrl' ? installUrlProblem(v[f]!) : publicUrlProblem(v[f]!);
      return p ? [`${f} ${p}`] : [];
    }),
    urls.length ? `${urls.join(', ')}: well-formed https URLs` : 'no URLs to check',
  );

  const unknown = v.scopes.filter((s) => !catalogs.scope(s.name)).map((s) => s.name);
  add(
    'scopes_known',
    'Every requested scope exists',
    unknown.length ? [`unknown scopes: ${unknown.join(', ')}`] : [],
    v.scopes.length ? `${v.scopes.length} scopes, all known` : 'no scopes requested',
  );

  const unjustified = v.scopes.filter((s) => !s.justification.trim()).map((s) => s.name);
  add(
    'scopes_justified',
    'Every requested scope is justified',
    unjustified.length ? [`no justification for: ${unjustified.join(', ')}`] : [],
    v.scopes.length ? 'every scope says why the app needs it' : 'no scopes requested',
  );

  const listing: string[] = [];
  if (!v.iconAssetId) listing.push('upload an icon');
  const len = v.description.trim().length;
  if (len < MIN_DESCRIPTION_LENGTH)
    listing.push(`the description has ${len} characters; it needs at least ${MIN_DESCRIPTION_LENGTH}`);
  if (v.screenshotAssetIds.length < 1) listing.push('upload at least one screenshot');
  if (!v.supportUrl) listing.push('set a support URL');
  if (!v.privacyUrl) listing.push('set a privacy policy URL');
  add(
    'listing_complete',
    'The listing is complete',
    listing,
    'icon, description, screenshots, support and privacy URLs are all there',
  );

  const redirects: string[] = [];
  if (v.redirectUris.length === 0)
    redirects.push('add at least one redirect URI (needed to install the app)');
  for (const [i, uri] of v.redirectUris.entries()) {
    const p = redirectUriProblem(uri);
    if (p) redirects.push(`redirectUris[${i}] ${p}`);
  }
  add(
    'redirect_uris_exact',
    'Redirect URIs are exact',
    redirects,
    `${v.redirectUris.length} exact redirect URIs (https or loopback, no wildcards, no fragments)`,
  );

  const personal = v.scopes
    .filter((s) => catalogs.scope(s.name)?.sensitivity === 'personal')
    .map((s) => s.name);
  const missing = PRIVACY_EVENTS.filter((e) => !v.webhookEvents.includes(e));
  add(
    'privacy_webhooks',
    'Privacy webhooks are subscribed when personal data is requested',
    personal.length && missing.length
      ? [
          `the app requests personal-data scopes (${personal.join(', ')}); subscribe to ${missing.join(' and ')}`,
        ]
      : [],
    personal.length ? `subscribed to ${PRIVACY_EVENTS.join(' and ')}` : 'no personal-data scopes requested',
  );

  const requested = new Set(v.scopes.map((s) => s.name));
  const events: string[] = [];
  for (const type of v.webhookEvents) {
    const def = catalogs.eventType(type);
    if (!def) events.push(`unknown event type ${type}`);
    else if (def.scope && !requested.has(def.scope)) events.push(`${type} needs the scope ${def.scope}`);
  }
  add(
    'webhook_events',
    'Webhook events exist and are covered by the requested scopes',
    events,
    v.webhookEvents.length ? `${v.webhookEvents.length} events, all covered` : 'no webhook events',
  );
  return out;
}
