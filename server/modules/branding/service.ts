import { Resolver } from 'node:dns/promises';
import type { Config } from '../../config.ts';
import type { Db, Queryable } from '../../db/index.ts';
import { forbidden, PlazaError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { Logger } from '../../logger.ts';
import type { Storage } from '../../storage/index.ts';
import { hasRole, type OrgContext } from '../../tenancy.ts';
import { FORMAT_NAMES, IMAGE_EXTENSIONS, type ImageType, readImage, sniffImageType } from '../apps/index.ts';
import type { AuditService } from '../audit/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import { createDomains, type DnsResolver } from './domains.ts';
import { contrastProblems, type EffectiveTheme, FONTS, onColour, ThemeInput } from './schemas.ts';
import { createSendingDomains } from './sending.ts';

/**
 * White-label themes. An agency edits a draft (validated on every save) and
 * publishes it as a new numbered version; the highest version is live. A
 * version and the assets it names never change, so a page opened on version
 * 3 keeps working after 4 is published.
 *
 * Resolution is per request and cheap: each process keeps the active custom
 * domains (hostname -> agency) and the published themes it has resolved in
 * memory, re-reading both when a publish or a domain change is seen (locally
 * at once, from other processes within `refreshMs`). An unknown host resolves
 * to the platform's brand, never to another agency's.
 */
export const ASSET_LIMITS = {
  logo: { maxBytes: 512 * 1024, minSide: 16, maxSide: 2048 },
  favicon: { maxBytes: 128 * 1024, minSide: 16, maxSide: 512 },
} as const;
export type BrandAssetKind = keyof typeof ASSET_LIMITS;

/** The platform's own brand: what every host that is not an agency's active domain shows. */
export const PLATFORM_THEME = {
  brandName: 'Plaza',
  colours: { primary: '#2f5bd3', accent: '#2f5bd3', background: '#f5f6f8', text: '#1d2330' },
  font: 'system' as const,
};

export interface BrandingDeps {
  db: Db;
  config: Config;
  log: Logger;
  storage: Storage;
  audit: AuditService;
  organizations: OrganizationsService;
  /** PLAZA_SECRET: sending domains' DKIM keys are encrypted under it. */
  secret: string;
  resolver?: DnsResolver;
  /** How often each process re-reads active domains and the latest publish (ms). */
  refreshMs?: number;
}

export type BrandingService = ReturnType<typeof createBrandingService>;

type StoredTheme = ThemeInput;

const assetUrl = (id: string | null) => (id ? `/v1/branding/assets/${id}` : null);
const withUrls = (t: StoredTheme) => ({
  ...t,
  logoUrl: assetUrl(t.logoAssetId),
  faviconUrl: assetUrl(t.faviconAssetId),
});

function assertAgencyAdmin(org: OrgContext) {
  if (org.org.kind !== 'agency') throw forbidden('only agencies have a brand theme and custom domains');
  if (!hasRole(org, 'admin')) throw forbidden('branding needs the admin or owner role');
}

export function createBrandingService(deps: BrandingDeps) {
  const { db, config, log, storage, audit, organizations } = deps;
  const platformUrl = new URL(config.baseUrl);

  /** Where an agency's brand is served: its active domain on the platform's scheme and port. */
  const originOf = (hostname: string) =>
    `${platformUrl.protocol}//${hostname}${platformUrl.port ? `:${platformUrl.port}` : ''}`;

  // --- the per-process caches -------------------------------------------------
  let activeHosts = new Map<string, string>(); // hostname -> organization id
  let hostsOfOrg = new Map<string, string>(); // organization id -> its (first) active hostname
  let stamp = '';
  const themes = new Map<string, EffectiveTheme | null>(); // agency id -> its live theme
  const agencyOf = new Map<string, string | null>(); // organization id -> the agency whose brand applies
  let timer: NodeJS.Timeout | undefined;

  async function refresh(): Promise<void> {
    const rows = await db.query<{ hostname: string; organization_id: string; stamp: string }>(
      `SELECT d.hostname, d.organization_id,
              (SELECT coalesce(max(published_at), 'epoch')::text FROM branding_theme_versions) AS stamp
         FROM branding_domains d WHERE d.state = 'active'
       UNION ALL SELECT NULL, NULL, (SELECT coalesce(max(published_at), 'epoch')::text FROM branding_theme_versions)`,
      [],
      'branding_refresh',
    );
    const hosts = new Map<string, string>();
    const orgs = new Map<string, string>();
    for (const r of rows) {
      if (!r.hostname) continue;
      hosts.set(r.hostname, r.organization_id);
      if (!orgs.has(r.organization_id)) orgs.set(r.organization_id, r.hostname);
    }
    const newStamp = rows[0]?.stamp ?? '';
    const hostsChanged =
      hosts.size !== activeHosts.size || [...hosts].some(([h, o]) => activeHosts.get(h) !== o);
    activeHosts = hosts;
    hostsOfOrg = orgs;
    // A theme carries its base URL (the domain), so a domain change invalidates themes too.
    if (newStamp !== stamp || hostsChanged) themes.clear();
    stamp = newStamp;
  }

  // Made once: most requests show it, and nobody may change it.
  let platform: EffectiveTheme | undefined;
  function platformTheme(): EffectiveTheme {
    if (platform) return platform;
    const c = PLATFORM_THEME.colours;
    platform = Object.freeze({
      branded: false,
      organizationId: null,
      version: null,
      brandName: PLATFORM_THEME.brandName,
      logoUrl: null,
      faviconUrl: null,
      colours: { ...c, onPrimary: onColour(c.primary) },
      font: PLATFORM_THEME.font,
      fontStack: FONTS[PLATFORM_THEME.font],
      supportUrl: null,
      supportEmail: null,
      footerText: null,
      emailSenderName: null,
      replyTo: null,
      baseUrl: config.baseUrl,
    }) as EffectiveTheme;
    return platform;
  }

  async function liveTheme(agencyId: string): Promise<EffectiveTheme | null> {
    if (themes.has(agencyId)) return themes.get(agencyId) ?? null;
    const row = await db.maybeOne<{ version: number; theme: StoredTheme }>(
      'SELECT version, theme FROM branding_theme_versions WHERE organization_id = $1 ORDER BY version DESC LIMIT 1',
      [agencyId],
    );
    const host = hostsOfOrg.get(agencyId);
    const theme: EffectiveTheme | null = row
      ? {
          branded: true,
          organizationId: agencyId,
          version: row.version,
          brandName: row.theme.brandName,
          logoUrl: assetUrl(row.theme.logoAssetId),
          faviconUrl: assetUrl(row.theme.faviconAssetId),
          colours: { ...row.theme.colours, onPrimary: onColour(row.theme.colours.primary) },
          font: row.theme.font,
          fontStack: FONTS[row.theme.font],
          supportUrl: row.theme.supportUrl,
          supportEmail: row.theme.supportEmail,
          footerText: row.theme.footerText,
          emailSenderName: row.theme.emailSenderName,
          replyTo: row.theme.replyTo,
          baseUrl: host ? originOf(host) : config.baseUrl,
        }
      : null;
    if (themes.size > 10_000) themes.clear();
    themes.set(agencyId, theme);
    return theme;
  }

  /** The agency whose brand an organization shows: itself (an agency), its agency (a sub-account), or none. */
  async function brandOwnerOf(orgId: string): Promise<string | null> {
    if (agencyOf.has(orgId)) return agencyOf.get(orgId) ?? null;
    const org = await organizations.byId(orgId);
    let owner: string | null = null;
    if (org?.kind === 'agency') owner = org.id;
    else if (org?.kind === 'account' && org.parentId) {
      const parent = await organizations.byId(org.parentId);
      if (parent?.kind === 'agency') owner = parent.id;
    }
    if (agencyOf.size > 50_000) agencyOf.clear();
    // Only organizations that exist are remembered (one created later is asked again).
    if (org) agencyOf.set(orgId, owner);
    return owner;
  }

  const hostnameOf = (host: string) => host.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');

  async function draftOf(orgId: string, q: Queryable = db): Promise<StoredTheme | null> {
    const row = await q.maybeOne<{ theme: StoredTheme }>(
      'SELECT theme FROM branding_drafts WHERE organization_id = $1',
      [orgId],
    );
    return row?.theme ?? null;
  }

  async function assertOwnAsset(q: Queryable, orgId: string, id: string | null, kind: BrandAssetKind) {
    if (!id) return;
    const row = await q.maybeOne('SELECT kind FROM branding_assets WHERE id = $1 AND organization_id = $2', [
      id,
      orgId,
    ]);
    const field = kind === 'logo' ? 'body.logoAssetId' : 'body.faviconAssetId';
    if (!row)
      throw new PlazaError('PLAZA_VALIDATION', `${field}: no such ${kind} of this agency`, {
        fields: [{ field, reason: `no such ${kind} uploaded by this agency` }],
      });
    if (row.kind !== kind)
      throw new PlazaError('PLAZA_VALIDATION', `${field}: that upload is a ${row.kind}`, {
        fields: [{ field, reason: `that upload is a ${row.kind}, not a ${kind}` }],
      });
  }

  async function effectiveThemeFor(organizationId: string): Promise<EffectiveTheme | null> {
    const owner = await brandOwnerOf(organizationId);
    return owner ? liveTheme(owner) : null;
  }

  const resolver = deps.resolver ?? new Resolver({ timeout: 5000, tries: 2 });
  const sending = createSendingDomains({ db, config, log, secret: deps.secret, audit, resolver });
  const domains = createDomains({
    db,
    config,
    log,
    audit,
    resolver,
    onChange: () => refresh(),
  });

  return {
    domains,
    sending,

    /** Starts the per-process cache refresh (every process: API and workers). */
    async start(): Promise<void> {
      await refresh();
      timer = setInterval(
        () => void refresh().catch((err) => log.warn({ err }, 'branding: refresh failed')),
        deps.refreshMs ?? 1000,
      );
      timer.unref();
    },
    stop(): void {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    /** Re-reads active domains and published themes now (tests, after a change in another process). */
    refresh,

    /** The draft being edited and the live version (owners and admins of the agency). */
    async state(org: OrgContext) {
      assertAgencyAdmin(org);
      const draft = await draftOf(org.org.id);
      const live = await db.maybeOne<{ version: number; theme: StoredTheme; published_at: Date }>(
        'SELECT version, theme, published_at FROM branding_theme_versions WHERE organization_id = $1 ORDER BY version DESC LIMIT 1',
        [org.org.id],
      );
      return {
        draft: draft ? withUrls(draft) : null,
        published: live
          ? { ...withUrls(live.theme), version: live.version, publishedAt: live.published_at.toISOString() }
          : null,
      };
    },

    /** Saves the draft; colours must pass WCAG AA (400 naming the colour otherwise). */
    async saveDraft(org: OrgContext, input: ThemeInput) {
      assertAgencyAdmin(org);
      const problems = contrastProblems(input.colours);
      if (problems.length)
        throw new PlazaError(
          'PLAZA_VALIDATION',
          `the colours do not contrast enough: ${problems.map((p) => p.reason).join('; ')}`,
          { fields: problems },
        );
      await db.transaction(async (tx) => {
        await assertOwnAsset(tx, org.org.id, input.logoAssetId, 'logo');
        await assertOwnAsset(tx, org.org.id, input.faviconAssetId, 'favicon');
        await tx.query(
          `INSERT INTO branding_drafts (organization_id, theme, updated_by) VALUES ($1, $2, $3)
           ON CONFLICT (organization_id) DO UPDATE SET theme = $2, updated_at = now(), updated_by = $3`,
          [org.org.id, JSON.stringify(input), org.actor.userId],
        );
        await audit.record(tx, {
          organizationId: org.org.id,
          actor: org.actor,
          action: 'branding.draft_saved',
          targetType: 'organization',
          targetId: org.org.id,
        });
      });
      return withUrls(input);
    },

    /** Publishes the draft as the next version; every process shows it within a second. */
    async publish(org: OrgContext) {
      assertAgencyAdmin(org);
      const out = await db.transaction(async (tx) => {
        // Two publishes at once: UNIQUE (organization_id, version) makes the second a 409.
        const draft = await draftOf(org.org.id, tx);
        if (!draft)
          throw new PlazaError('PLAZA_CONFLICT', 'there is no draft to publish: save a theme first');
        // Checked again: a draft saved before a rule tightened must not go live unchecked.
        const theme = ThemeInput.parse(draft);
        const { next } = await tx.one<{ next: number }>(
          'SELECT coalesce(max(version), 0) + 1 AS next FROM branding_theme_versions WHERE organization_id = $1',
          [org.org.id],
        );
        const row = await tx.one<{ published_at: Date }>(
          `INSERT INTO branding_theme_versions (id, organization_id, version, theme, published_by)
           VALUES ($1, $2, $3, $4, $5) RETURNING published_at`,
          [newId('thm'), org.org.id, next, JSON.stringify(theme), org.actor.userId],
        );
        await audit.record(tx, {
          organizationId: org.org.id,
          actor: org.actor,
          action: 'branding.published',
          targetType: 'organization',
          targetId: org.org.id,
          data: { version: next },
        });
        return { ...withUrls(theme), version: next, publishedAt: row.published_at.toISOString() };
      });
      themes.delete(org.org.id);
      await refresh();
      return out;
    },

    /** Stores a logo or favicon; the bytes decide the type (the checks app icons get). */
    async uploadAsset(org: OrgContext, kind: BrandAssetKind, upload: { contentType: string; bytes: Buffer }) {
      assertAgencyAdmin(org);
      const limits = ASSET_LIMITS[kind];
      const sniffed = sniffImageType(upload.bytes);
      const unsupported = (reason: string) =>
        new PlazaError('PLAZA_UNSUPPORTED_MEDIA_TYPE', reason, { fields: [{ field: 'body', reason }] });
      if (!sniffed) throw unsupported('the body is not a PNG, JPEG or WebP image');
      if (sniffed !== (upload.contentType as ImageType))
        throw unsupported(
          `the body is a ${FORMAT_NAMES[sniffed]} image, not ${upload.contentType}: send Content-Type ${sniffed}`,
        );
      const image = readImage(upload.bytes);
      if (!image) throw unsupported(`the body is not a readable ${FORMAT_NAMES[sniffed]} image`);
      const { width, height } = image;
      if (kind === 'favicon' && width !== height)
        throw new PlazaError('PLAZA_VALIDATION', `a favicon must be square (got ${width}×${height})`, {
          fields: [{ field: 'body', reason: `a favicon must be square (got ${width}×${height})` }],
        });
      if (Math.min(width, height) < limits.minSide || Math.max(width, height) > limits.maxSide) {
        const reason = `a ${kind} must be between ${limits.minSide} and ${limits.maxSide} pixels per side (got ${width}×${height})`;
        throw new PlazaError('PLAZA_VALIDATION', reason, { fields: [{ field: 'body', reason }] });
      }
      const id = newId('bast');
      const key = `branding/${org.org.id}/${id}.${IMAGE_EXTENSIONS[sniffed]}`;
      await storage.put(key, upload.bytes);
      try {
        await db.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO branding_assets (id, organization_id, kind, content_type, bytes, width, height, storage_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
            [id, org.org.id, kind, sniffed, upload.bytes.length, width, height, key],
          );
          await audit.record(tx, {
            organizationId: org.org.id,
            actor: org.actor,
            action: 'branding.asset_uploaded',
            targetType: 'branding_asset',
            targetId: id,
            data: { kind, contentType: sniffed, bytes: upload.bytes.length },
          });
        });
      } catch (err) {
        await storage.delete(key).catch(() => {});
        throw err;
      }
      return {
        id,
        kind,
        contentType: sniffed,
        bytes: upload.bytes.length,
        width,
        height,
        url: assetUrl(id) as string,
      };
    },

    /** An uploaded logo or favicon (public: pages and emails show them). */
    async readAsset(id: string): Promise<{ contentType: string; bytes: Buffer } | undefined> {
      const row = await db.maybeOne('SELECT content_type, storage_key FROM branding_assets WHERE id = $1', [
        id,
      ]);
      if (!row) return undefined;
      const bytes = await storage.get(row.storage_key);
      return bytes ? { contentType: row.content_type, bytes } : undefined;
    },

    /**
     * For other modules: the live theme an organization shows (an agency's
     * own, a sub-account's agency's), or null when the platform's brand
     * applies (no agency, or nothing published). Cached per process.
     */
    effectiveThemeFor,

    /** The brand a request on `host` shows: the agency's for its active domain, else the platform's. */
    async themeForHost(host: string): Promise<EffectiveTheme> {
      const owner = activeHosts.get(hostnameOf(host));
      return (owner && (await liveTheme(owner))) || platformTheme();
    },

    /** The agency an active custom domain belongs to (undefined: not an active domain). */
    agencyForHost: (host: string): string | undefined => activeHosts.get(hostnameOf(host)),

    /** The platform's own brand. */
    platformTheme,

    /**
     * What a page or an email for this request shows: the host's brand on an
     * agency's domain; otherwise the organization's (a sub-account shows its
     * agency's brand on the platform host too); otherwise the platform's.
     */
    async resolve(req: { host?: string | null; organizationId?: string | null }): Promise<EffectiveTheme> {
      if (req.host) {
        const owner = activeHosts.get(hostnameOf(req.host));
        const t = owner ? await liveTheme(owner) : null;
        if (t) return t;
      }
      if (req.organizationId) {
        const t = await effectiveThemeFor(req.organizationId);
        if (t) return t;
      }
      return platformTheme();
    },
  };
}
