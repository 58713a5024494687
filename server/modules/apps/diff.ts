import type { Pricing } from '../marketplace/index.ts';
import type { VersionFields } from './schemas.ts';

/** What a version carries that is compared: its fields plus its asset references. */
export type VersionContent = VersionFields & { iconAssetId: string | null; screenshotAssetIds: string[] };

export const LISTING_TEXT_FIELDS = [
  'name',
  'tagline',
  'description',
  'category',
  'supportUrl',
  'privacyUrl',
  'termsUrl',
] as const;
export type ListingTextField = (typeof LISTING_TEXT_FIELDS)[number];

type Scope = VersionFields['scopes'][number];

export interface VersionDiff {
  /** True when there is no live version to compare with. */
  firstVersion: boolean;
  scopes: {
    added: Scope[];
    removed: Scope[];
    changed: Array<{
      name: string;
      before: { justification: string; optional: boolean };
      after: { justification: string; optional: boolean };
    }>;
  };
  redirectUris: { added: string[]; removed: string[] };
  /** The install link (where the marketplace's Install button goes); null when unchanged. */
  installUrl: { before: string | null; after: string | null } | null;
  webhookEvents: { added: string[]; removed: string[] };
  pricing: { changed: boolean; before: Pricing | null; after: Pricing };
  listing: Array<{ field: ListingTextField; before: string | null; after: string | null }>;
  assets: {
    icon: { before: string | null; after: string | null } | null;
    screenshots: { before: string[]; after: string[] } | null;
  };
  /** Nothing differs from the live version. */
  unchanged: boolean;
  /** 'full' for a first version or anything beyond listing text and assets; else 'fast_track'. */
  reviewKind: 'full' | 'fast_track';
  /** Why a full review is needed, in words the reviewer reads in the queue. */
  reviewReasons: string[];
}

const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, val) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val).sort(([a], [b]) => a.localeCompare(b)))
      : val,
  );

const setDiff = (before: string[], after: string[]) => ({
  added: after.filter((x) => !before.includes(x)),
  removed: before.filter((x) => !after.includes(x)),
});

/**
 * Compares a version with the live one (null: there is none). Pure: the
 * developer's diff page and the reviewer's page call it on the same inputs.
 */
export function diffVersions(live: VersionContent | null, next: VersionContent): VersionDiff {
  const base = live;
  const beforeScopes = new Map((base?.scopes ?? []).map((s) => [s.name, s]));
  const afterScopes = new Map(next.scopes.map((s) => [s.name, s]));
  const scopes: VersionDiff['scopes'] = {
    added: next.scopes.filter((s) => !beforeScopes.has(s.name)),
    removed: (base?.scopes ?? []).filter((s) => !afterScopes.has(s.name)),
    changed: [],
  };
  for (const s of next.scopes) {
    const b = beforeScopes.get(s.name);
    if (b && (b.justification !== s.justification || b.optional !== s.optional))
      scopes.changed.push({
        name: s.name,
        before: { justification: b.justification, optional: b.optional },
        after: { justification: s.justification, optional: s.optional },
      });
  }
  const redirectUris = setDiff(base?.redirectUris ?? [], next.redirectUris);
  const installBefore = base?.installUrl ?? null;
  const installAfter = next.installUrl ?? null;
  const installUrl = installBefore !== installAfter ? { before: installBefore, after: installAfter } : null;
  const webhookEvents = setDiff(base?.webhookEvents ?? [], next.webhookEvents);
  const pricingChanged = !base || canonical(base.pricing) !== canonical(next.pricing);
  const listing: VersionDiff['listing'] = [];
  for (const field of LISTING_TEXT_FIELDS) {
    const before = base ? ((base[field] as string | null) ?? null) : null;
    const after = (next[field] as string | null) ?? null;
    if (before !== after) listing.push({ field, before, after });
  }
  const iconChanged = (base?.iconAssetId ?? null) !== next.iconAssetId;
  const shotsBefore = base?.screenshotAssetIds ?? [];
  const shotsChanged = canonical(shotsBefore) !== canonical(next.screenshotAssetIds);
  const assets: VersionDiff['assets'] = {
    icon: iconChanged ? { before: base?.iconAssetId ?? null, after: next.iconAssetId } : null,
    screenshots: shotsChanged ? { before: shotsBefore, after: next.screenshotAssetIds } : null,
  };

  const reviewReasons: string[] = [];
  if (!base) reviewReasons.push('first version of the app');
  else {
    if (scopes.added.length) reviewReasons.push(`adds scopes: ${scopes.added.map((s) => s.name).join(', ')}`);
    const madeRequired = scopes.changed.filter((c) => c.before.optional && !c.after.optional);
    if (madeRequired.length)
      reviewReasons.push(`makes scopes required: ${madeRequired.map((c) => c.name).join(', ')}`);
    if (redirectUris.added.length || redirectUris.removed.length) reviewReasons.push('changes redirect URIs');
    if (installUrl) reviewReasons.push('changes the install link');
    if (webhookEvents.added.length)
      reviewReasons.push(`subscribes to more events: ${webhookEvents.added.join(', ')}`);
    if (pricingChanged) reviewReasons.push('changes pricing');
  }
  const unchanged =
    !!base &&
    !scopes.added.length &&
    !scopes.removed.length &&
    !scopes.changed.length &&
    !redirectUris.added.length &&
    !redirectUris.removed.length &&
    !installUrl &&
    !webhookEvents.added.length &&
    !webhookEvents.removed.length &&
    !pricingChanged &&
    !listing.length &&
    !iconChanged &&
    !shotsChanged;
  return {
    firstVersion: !base,
    scopes,
    redirectUris,
    installUrl,
    webhookEvents,
    pricing: { changed: pricingChanged, before: base?.pricing ?? null, after: next.pricing },
    listing,
    assets,
    unchanged,
    reviewKind: reviewReasons.length ? 'full' : 'fast_track',
    reviewReasons,
  };
}
