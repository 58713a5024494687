import { createHash } from 'node:crypto';
import type { Config } from '../../config.ts';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { conflict, type FieldError, forbidden, invalid, notFound, PlazaError } from '../../errors.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId, newSecret } from '../../ids.ts';
import { renderMarkdown } from '../../lib/markdown.ts';
import { installUrlProblem, redirectUriProblem } from '../../lib/urls.ts';
import type { ScopeCatalog } from '../../scopes.ts';
import type { Storage } from '../../storage/index.ts';
import { type Actor, hasRole, type OrgContext } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import type { ListingInput } from '../marketplace/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import { diffVersions, type VersionContent, type VersionDiff } from './diff.ts';
import { FORMAT_NAMES, IMAGE_EXTENSIONS, type ImageType, readImage, sniffImageType } from './images.ts';
import { type AppManifest, RESERVED_SLUGS, SLUG, type VersionFields } from './schemas.ts';
import {
  EDITABLE_STATES,
  nextState,
  OPEN_STATES,
  type VersionAction,
  type VersionState,
} from './transitions.ts';

/** What the apps module needs from the marketplace (it owns the public listing). */
export interface MarketplacePort {
  publish(tx: Tx, listing: ListingInput): Promise<void>;
  withdraw(tx: Tx, appId: string): Promise<void>;
}

export type AppStatus = 'active' | 'suspended' | 'unpublished';
export type AssetKind = 'icon' | 'screenshot';

export interface App {
  id: string;
  organizationId: string;
  slug: string;
  name: string;
  clientId: string;
  status: AppStatus;
  statusReason: string | null;
  statusChangedAt: string | null;
  liveVersionId: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface VersionSummary {
  id: string;
  number: number;
  state: VersionState;
}

export interface AppDetail extends App {
  liveVersion: VersionSummary | null;
  openVersion: VersionSummary | null;
  clientSecrets: Array<{ id: string; prefix: string; createdAt: string; expiresAt: string | null }>;
}

export interface Asset {
  id: string;
  kind: AssetKind;
  /** Public, stable URL of the bytes. */
  url: string;
  contentType: ImageType;
  bytes: number;
  width: number | null;
  height: number | null;
  createdAt: string;
}

export type AppVersion = VersionFields & {
  id: string;
  appId: string;
  organizationId: string;
  number: number;
  state: VersionState;
  /** Can the developer change it now (draft or changes requested)? */
  editable: boolean;
  descriptionHtml: string;
  icon: Asset | null;
  screenshots: Asset[];
  reviewKind: 'full' | 'fast_track' | null;
  submittedAt: string | null;
  decidedAt: string | null;
  createdAt: string;
  updatedAt: string;
};

/** An app as platform admins list it (`apps.adminList`). */
export interface AdminAppRow {
  id: string;
  slug: string;
  name: string;
  developer: { organizationId: string; name: string };
  status: AppStatus;
  statusReason: string | null;
  statusChangedAt: string | null;
  liveVersion: VersionSummary | null;
  openVersion: VersionSummary | null;
  createdAt: string;
}

/** `%`, `_` and `\` in a search match themselves in an ILIKE pattern. */
const likePattern = (q: string) => `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** What the OAuth provider needs of one version of an app. */
export interface OAuthClientVersion {
  versionId: string;
  number: number;
  name: string;
  redirectUris: string[];
  scopes: VersionFields['scopes'];
}

/** An app as an OAuth client (`apps.oauthClient`). */
export interface OAuthClientApp {
  appId: string;
  organizationId: string;
  clientId: string;
  name: string;
  status: AppStatus;
  live: OAuthClientVersion | null;
  open: OAuthClientVersion | null;
}

export type VersionPatch = Partial<VersionFields> & {
  iconAssetId?: string | null;
  screenshotAssetIds?: string[];
};

/** Upload limits: bytes and pixels. */
export const ASSET_LIMITS = {
  icon: { maxBytes: 512 * 1024, minSide: 64, maxSide: 2048 },
  screenshot: { maxBytes: 2 * 1024 * 1024, minSide: 320, maxSide: 4096, perVersion: 8 },
} as const;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const iso = (d: Date | null | undefined) => d?.toISOString() ?? null;

const toApp = (r: any): App => ({
  id: r.id,
  organizationId: r.organization_id,
  slug: r.slug,
  name: r.name,
  clientId: r.client_id,
  status: r.status,
  statusReason: r.status_reason,
  statusChangedAt: iso(r.status_changed_at),
  liveVersionId: r.live_version_id,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

const contentOf = (r: any): VersionContent => ({
  name: r.name,
  tagline: r.tagline,
  description: r.description,
  category: r.category,
  supportUrl: r.support_url,
  privacyUrl: r.privacy_url,
  termsUrl: r.terms_url,
  redirectUris: r.redirect_uris,
  installUrl: r.install_url ?? null,
  scopes: r.scopes,
  webhookEvents: r.webhook_events,
  pricing: r.pricing,
  iconAssetId: r.icon_asset_id,
  screenshotAssetIds: r.screenshot_asset_ids,
});

const summaryOf = (r: any): VersionSummary | null =>
  r ? { id: r.id, number: r.number, state: r.state } : null;

/** Columns of app_versions set from VersionFields, in one order for inserts and updates. */
const FIELD_COLUMNS: Array<[keyof VersionContent, string]> = [
  ['name', 'name'],
  ['tagline', 'tagline'],
  ['description', 'description'],
  ['category', 'category'],
  ['supportUrl', 'support_url'],
  ['privacyUrl', 'privacy_url'],
  ['termsUrl', 'terms_url'],
  ['redirectUris', 'redirect_uris'],
  ['installUrl', 'install_url'],
  ['scopes', 'scopes'],
  ['webhookEvents', 'webhook_events'],
  ['pricing', 'pricing'],
  ['iconAssetId', 'icon_asset_id'],
  ['screenshotAssetIds', 'screenshot_asset_ids'],
];
const JSON_COLUMNS = new Set(['scopes', 'pricing']);
const columnValue = (column: string, value: unknown) =>
  JSON_COLUMNS.has(column) ? JSON.stringify(value) : value;

export type AppsService = ReturnType<typeof createAppsService>;

export function createAppsService(deps: {
  db: Db;
  config: Config;
  audit: AuditService;
  events: EventsService;
  scopes: ScopeCatalog;
  storage: Storage;
  organizations: OrganizationsService;
  marketplace: MarketplacePort;
}) {
  const { db, config, audit, events, scopes, storage, organizations, marketplace } = deps;
  const assetUrl = (id: string) => `${config.baseUrl}/v1/assets/${id}`;

  const toAsset = (r: any): Asset => ({
    id: r.id,
    kind: r.kind,
    url: assetUrl(r.id),
    contentType: r.content_type,
    bytes: r.bytes,
    width: r.width,
    height: r.height,
    createdAt: r.created_at.toISOString(),
  });

  async function assetsByIds(q: Queryable, ids: string[]): Promise<Map<string, Asset>> {
    if (ids.length === 0) return new Map();
    const rows = await q.query('SELECT * FROM app_assets WHERE id = ANY($1)', [ids]);
    return new Map(rows.map((r) => [r.id, toAsset(r)]));
  }

  async function toVersion(q: Queryable, r: any): Promise<AppVersion> {
    const assets = await assetsByIds(q, [r.icon_asset_id, ...r.screenshot_asset_ids].filter(Boolean));
    const c = contentOf(r);
    return {
      id: r.id,
      appId: r.app_id,
      organizationId: r.organization_id,
      number: r.number,
      state: r.state,
      editable: EDITABLE_STATES.has(r.state),
      name: c.name,
      tagline: c.tagline,
      description: c.description,
      descriptionHtml: renderMarkdown(c.description),
      category: c.category,
      supportUrl: c.supportUrl,
      privacyUrl: c.privacyUrl,
      termsUrl: c.termsUrl,
      redirectUris: c.redirectUris,
      installUrl: c.installUrl,
      scopes: c.scopes,
      webhookEvents: c.webhookEvents,
      pricing: c.pricing,
      icon: (c.iconAssetId && assets.get(c.iconAssetId)) || null,
      screenshots: c.screenshotAssetIds.map((id) => assets.get(id)).filter((a): a is Asset => !!a),
      reviewKind: r.review_kind,
      submittedAt: iso(r.submitted_at),
      decidedAt: iso(r.decided_at),
      createdAt: r.created_at.toISOString(),
      updatedAt: r.updated_at.toISOString(),
    };
  }

  /** The app, if it belongs to the caller's organization (else 404: other tenants' apps do not exist). */
  async function appOf(q: Queryable, ctx: OrgContext, appId: string, lock = false): Promise<any> {
    const row = await q.maybeOne(
      `SELECT * FROM apps WHERE id = $1 AND organization_id = $2${lock ? ' FOR UPDATE' : ''}`,
      [appId, ctx.org.id],
    );
    if (!row) throw notFound('app');
    return row;
  }

  async function versionOf(q: Queryable, ctx: OrgContext, appId: string, versionId: string, lock = false) {
    const row = await q.maybeOne(
      `SELECT * FROM app_versions WHERE id = $1 AND app_id = $2 AND organization_id = $3${lock ? ' FOR UPDATE' : ''}`,
      [versionId, appId, ctx.org.id],
    );
    if (!row) throw notFound('version');
    return row;
  }

  function assertEditable(row: any) {
    if (!EDITABLE_STATES.has(row.state))
      throw conflict(
        `version ${row.number} is ${String(row.state).replace('_', ' ')} and cannot be edited; ${
          row.state === 'live' || row.state === 'retired'
            ? 'create a new version to change the app'
            : row.state === 'checking' || row.state === 'queued'
              ? 'withdraw it from review first'
              : 'wait for the review to finish'
        }`,
      );
  }

  async function detail(q: Queryable, row: any): Promise<AppDetail> {
    const versions = await q.query(
      `SELECT id, number, state FROM app_versions WHERE app_id = $1 AND (state = 'live' OR state = ANY($2))`,
      [row.id, [...OPEN_STATES]],
    );
    const secrets = await q.query(
      `SELECT id, prefix, created_at, expires_at FROM app_client_secrets
       WHERE app_id = $1 AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at DESC`,
      [row.id],
    );
    return {
      ...toApp(row),
      liveVersion: summaryOf(versions.find((v) => v.state === 'live')),
      openVersion: summaryOf(versions.find((v) => OPEN_STATES.has(v.state))),
      clientSecrets: secrets.map((s) => ({
        id: s.id,
        prefix: s.prefix,
        createdAt: s.created_at.toISOString(),
        expiresAt: iso(s.expires_at),
      })),
    };
  }

  async function insertSecret(tx: Tx, appId: string): Promise<string> {
    const secret = newSecret('plz_cs', 32);
    await tx.query(
      'INSERT INTO app_client_secrets (id, app_id, prefix, secret_hash) VALUES ($1, $2, $3, $4)',
      [newId('csec'), appId, secret.slice(0, 14), sha256(secret)],
    );
    return secret;
  }

  /**
   * Checks what zod cannot: scopes and event types exist, redirect URIs follow
   * the rules, assets belong to this app. `at` prefixes field names
   * (`body`, `body.version`).
   */
  async function validateFields(q: Queryable, appId: string, v: VersionPatch, at: string): Promise<void> {
    const fields: FieldError[] = [];
    const bad = (field: string, reason: string) => fields.push({ field: `${at}.${field}`, reason });
    v.redirectUris?.forEach((uri, i) => {
      const problem = redirectUriProblem(uri);
      if (problem) bad(`redirectUris.${i}`, problem);
      else if (v.redirectUris!.indexOf(uri) !== i) bad(`redirectUris.${i}`, 'listed twice');
    });
    if (typeof v.installUrl === 'string') {
      const problem = installUrlProblem(v.installUrl);
      if (problem) bad('installUrl', problem);
    }
    v.scopes?.forEach((s, i) => {
      if (!scopes.get(s.name)) bad(`scopes.${i}.name`, `unknown scope ${s.name} (GET /v1/scopes lists them)`);
      else if (v.scopes!.findIndex((o) => o.name === s.name) !== i) bad(`scopes.${i}.name`, 'listed twice');
    });
    const known = new Set(events.types().map((t) => t.type));
    v.webhookEvents?.forEach((type, i) => {
      if (!known.has(type)) bad(`webhookEvents.${i}`, `unknown event type ${type}`);
      else if (v.webhookEvents!.indexOf(type) !== i) bad(`webhookEvents.${i}`, 'listed twice');
    });
    const assetIds = [v.iconAssetId, ...(v.screenshotAssetIds ?? [])].filter((x): x is string => !!x);
    if (assetIds.length) {
      const rows = await q.query('SELECT id, kind FROM app_assets WHERE app_id = $1 AND id = ANY($2)', [
        appId,
        assetIds,
      ]);
      const kinds = new Map(rows.map((r) => [r.id, r.kind]));
      if (v.iconAssetId && kinds.get(v.iconAssetId) !== 'icon')
        bad('iconAssetId', 'not an icon uploaded for this app');
      v.screenshotAssetIds?.forEach((id, i) => {
        if (kinds.get(id) !== 'screenshot')
          bad(`screenshotAssetIds.${i}`, 'not a screenshot uploaded for this app');
        else if (v.screenshotAssetIds!.indexOf(id) !== i) bad(`screenshotAssetIds.${i}`, 'listed twice');
      });
    }
    if (fields.length)
      throw new PlazaError('PLAZA_VALIDATION', fields.map((f) => `${f.field}: ${f.reason}`).join('; '), {
        fields,
      });
  }

  /** Writes the given content columns of a version (only those present). */
  async function writeContent(tx: Tx, versionId: string, patch: Partial<VersionContent>) {
    const sets: string[] = [];
    const args: unknown[] = [versionId];
    for (const [key, column] of FIELD_COLUMNS) {
      if (patch[key] === undefined) continue;
      args.push(columnValue(column, patch[key]));
      sets.push(`${column} = $${args.length}`);
    }
    if (!sets.length) return tx.one('SELECT * FROM app_versions WHERE id = $1', [versionId]);
    return tx.one(
      `UPDATE app_versions SET ${sets.join(', ')}, updated_at = now() WHERE id = $1 RETURNING *`,
      args,
    );
  }

  /** The version to compare a version with: the live one, or for a live/retired one the one live before it. */
  async function baseFor(q: Queryable, row: any): Promise<any | undefined> {
    if (row.state === 'live' || row.state === 'retired')
      return q.maybeOne(
        `SELECT * FROM app_versions WHERE app_id = $1 AND state = 'retired' AND number < $2
         ORDER BY number DESC LIMIT 1`,
        [row.app_id, row.number],
      );
    return q.maybeOne(`SELECT * FROM app_versions WHERE app_id = $1 AND state = 'live'`, [row.app_id]);
  }

  async function diffOf(q: Queryable, row: any) {
    const base = await baseFor(q, row);
    const diff = diffVersions(base ? contentOf(base) : null, contentOf(row));
    // Asset ids become their public URLs, so both sides can be shown.
    const ids = [diff.assets.icon?.before, diff.assets.icon?.after]
      .concat(diff.assets.screenshots?.before ?? [], diff.assets.screenshots?.after ?? [])
      .filter((x): x is string => !!x);
    const assets = await assetsByIds(q, ids);
    const url = (id: string | null) => (id ? (assets.get(id)?.url ?? null) : null);
    const out: VersionDiff & { version: VersionSummary; against: VersionSummary | null } = {
      ...diff,
      assets: {
        icon: diff.assets.icon && {
          before: url(diff.assets.icon.before),
          after: url(diff.assets.icon.after),
        },
        screenshots: diff.assets.screenshots && {
          before: diff.assets.screenshots.before.map(url).filter((u): u is string => !!u),
          after: diff.assets.screenshots.after.map(url).filter((u): u is string => !!u),
        },
      },
      version: summaryOf(row)!,
      against: summaryOf(base),
    };
    return out;
  }

  async function listingFor(q: Queryable, appId: string): Promise<ListingInput | null> {
    const app = await q.maybeOne('SELECT * FROM apps WHERE id = $1', [appId]);
    if (!app?.live_version_id) return null;
    const v = await q.one('SELECT * FROM app_versions WHERE id = $1', [app.live_version_id]);
    const version = await toVersion(q, v);
    const developer = await organizations.byId(app.organization_id);
    return {
      appId: app.id,
      slug: app.slug,
      name: version.name,
      tagline: version.tagline,
      description: version.description,
      category: version.category,
      pricing: version.pricing,
      scopes: version.scopes.map((s) => ({
        name: s.name,
        consentText: scopes.get(s.name)?.consentText ?? s.name,
        optional: s.optional,
      })),
      developer: { organizationId: app.organization_id, name: developer?.name ?? '' },
      iconUrl: version.icon?.url ?? null,
      screenshotUrls: version.screenshots.map((s) => s.url),
      supportUrl: version.supportUrl,
      privacyUrl: version.privacyUrl,
      termsUrl: version.termsUrl,
      installUrl: version.installUrl,
      versionId: version.id,
      versionNumber: version.number,
      publishedAt: version.decidedAt ?? new Date().toISOString(),
    };
  }

  async function setStatus(
    tx: Tx,
    app: any,
    to: AppStatus,
    reason: string | null,
    actor: Actor,
    action: string,
  ): Promise<void> {
    await tx.query(
      `UPDATE apps SET status = $2, status_reason = $3, status_changed_at = now(), updated_at = now() WHERE id = $1`,
      [app.id, to, reason],
    );
    if (to === 'active') {
      const listing = await listingFor(tx, app.id);
      if (listing) await marketplace.publish(tx, listing);
    } else await marketplace.withdraw(tx, app.id);
    await audit.record(tx, {
      organizationId: app.organization_id,
      actor,
      action,
      targetType: 'app',
      targetId: app.id,
      data: { from: app.status, to, ...(reason ? { reason } : {}) },
    });
  }

  async function updateVersion(
    ctx: OrgContext,
    appId: string,
    versionId: string,
    patch: VersionPatch,
    opts: { at?: string; action?: string } = {},
  ): Promise<AppVersion> {
    return db.transaction(async (tx) => {
      // Only the version row is locked: approval locks versions before the app row,
      // so taking the app row first here could deadlock with it.
      const app = await appOf(tx, ctx, appId);
      const row = await versionOf(tx, ctx, appId, versionId, true);
      assertEditable(row);
      await validateFields(tx, app.id, patch, opts.at ?? 'body');
      const updated = await writeContent(tx, row.id, patch);
      if (patch.name !== undefined)
        await tx.query('UPDATE apps SET name = $2, updated_at = now() WHERE id = $1', [app.id, patch.name]);
      await audit.record(tx, {
        organizationId: ctx.org.id,
        actor: ctx.actor,
        action: opts.action ?? 'app_version.updated',
        targetType: 'app_version',
        targetId: row.id,
        data: { appId: app.id, number: row.number, fields: Object.keys(patch) },
      });
      return toVersion(tx, updated);
    });
  }

  return {
    // Apps ---------------------------------------------------------------------

    async create(
      ctx: OrgContext,
      input: Pick<
        VersionFields,
        'name' | 'tagline' | 'description' | 'category' | 'supportUrl' | 'privacyUrl' | 'termsUrl'
      > & { slug: string },
    ): Promise<{ app: AppDetail; version: AppVersion; clientSecret: string }> {
      if (!SLUG.test(input.slug))
        throw invalid('body.slug', '3-40 lowercase letters, digits and dashes, starting with a letter');
      if (RESERVED_SLUGS.has(input.slug)) throw invalid('body.slug', `"${input.slug}" is reserved`);
      return db.transaction(async (tx) => {
        const taken = await tx.maybeOne('SELECT 1 FROM apps WHERE slug = $1', [input.slug]);
        if (taken) throw conflict('this slug is taken', [{ field: 'body.slug', reason: 'already taken' }]);
        const appId = newId('app');
        let app: any;
        try {
          app = await tx.one(
            `INSERT INTO apps (id, organization_id, slug, name, client_id) VALUES ($1, $2, $3, $4, $5) RETURNING *`,
            [appId, ctx.org.id, input.slug, input.name, newId('cl')],
          );
        } catch (err) {
          if ((err as { code?: string }).code === '23505')
            throw conflict('this slug is taken', [{ field: 'body.slug', reason: 'already taken' }]);
          throw err;
        }
        const v = await tx.one(
          `INSERT INTO app_versions (id, app_id, organization_id, number, state, name, tagline, description, category,
             support_url, privacy_url, terms_url) VALUES ($1, $2, $3, 1, 'draft', $4, $5, $6, $7, $8, $9, $10) RETURNING *`,
          [
            newId('ver'),
            appId,
            ctx.org.id,
            input.name,
            input.tagline,
            input.description,
            input.category,
            input.supportUrl,
            input.privacyUrl,
            input.termsUrl,
          ],
        );
        const clientSecret = await insertSecret(tx, appId);
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'app.created',
          targetType: 'app',
          targetId: appId,
          data: { slug: input.slug, name: input.name, clientId: app.client_id },
        });
        return { app: await detail(tx, app), version: await toVersion(tx, v), clientSecret };
      });
    },

    async list(ctx: OrgContext, opts: { limit: number; cursor?: string }): Promise<Page<AppDetail>> {
      const after = decodeCursor(opts.cursor);
      const rows = await db.query(
        `SELECT * FROM apps WHERE organization_id = $1 AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3`,
        [ctx.org.id, after ? String(after[0]) : null, opts.limit + 1],
      );
      const page = toPage(
        rows,
        opts.limit,
        (r) => [r.id],
        (r) => r,
      );
      return { data: await Promise.all(page.data.map((r) => detail(db, r))), nextCursor: page.nextCursor };
    },

    async get(ctx: OrgContext, appId: string): Promise<AppDetail> {
      return detail(db, await appOf(db, ctx, appId));
    },

    /**
     * A new client secret, shown once. Secrets valid until now keep working
     * for `overlapHours` (default PLAZA_CLIENT_SECRET_OVERLAP_HOURS), so the
     * developer can deploy the new one without downtime.
     */
    async rotateClientSecret(ctx: OrgContext, appId: string, overlapHours = config.clientSecretOverlapHours) {
      if (!hasRole(ctx, 'admin')) throw forbidden('rotating the client secret needs the admin or owner role');
      return db.transaction(async (tx) => {
        const app = await appOf(tx, ctx, appId, true);
        const old = await tx.query(
          `UPDATE app_client_secrets
             SET expires_at = LEAST(coalesce(expires_at, 'infinity'), now() + $2::interval)
           WHERE app_id = $1 AND (expires_at IS NULL OR expires_at > now()) RETURNING id, expires_at`,
          [app.id, `${overlapHours} hours`],
        );
        const clientSecret = await insertSecret(tx, app.id);
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'app.client_secret_rotated',
          targetType: 'app',
          targetId: app.id,
          data: { overlapHours, previousSecrets: old.map((o) => o.id) },
        });
        return {
          clientId: app.client_id as string,
          clientSecret,
          previousSecretsExpireAt: old.length ? iso(old[0].expires_at) : null,
          app: await detail(tx, app),
        };
      });
    },

    /**
     * For the OAuth token endpoint: the app whose client this is, when the
     * secret is one of its current ones (or still in a rotation's overlap).
     */
    async verifyClientSecret(
      clientId: string,
      secret: string,
    ): Promise<{ appId: string; organizationId: string; status: AppStatus } | null> {
      if (!clientId || !secret?.startsWith('plz_cs_')) return null;
      const row = await db.maybeOne(
        `SELECT a.id, a.organization_id, a.status FROM apps a JOIN app_client_secrets s ON s.app_id = a.id
         WHERE a.client_id = $1 AND s.secret_hash = $2 AND (s.expires_at IS NULL OR s.expires_at > now())`,
        [clientId, sha256(secret)],
      );
      return row ? { appId: row.id, organizationId: row.organization_id, status: row.status } : null;
    },

    /**
     * For the OAuth provider: the app behind a client id, with the redirect
     * URIs and scopes of its live version and of its open (unreviewed) version,
     * which only the developer's test accounts may use. Undefined when unknown.
     */
    async oauthClient(clientId: string): Promise<OAuthClientApp | undefined> {
      // One round trip: the token endpoint asks for every request.
      const app = await db.maybeOne(
        `SELECT a.id, a.organization_id, a.client_id, a.name, a.status,
           coalesce((SELECT json_agg(json_build_object('id', v.id, 'number', v.number, 'state', v.state,
               'name', v.name, 'redirect_uris', v.redirect_uris, 'scopes', v.scopes))
             FROM app_versions v WHERE v.app_id = a.id AND (v.state = 'live' OR v.state = ANY($2))), '[]') AS versions
         FROM apps a WHERE a.client_id = $1`,
        [clientId, [...OPEN_STATES]],
      );
      if (!app) return undefined;
      const versions: any[] = app.versions;
      const side = (v: any): OAuthClientVersion | null =>
        v
          ? {
              versionId: v.id,
              number: v.number,
              name: v.name,
              redirectUris: v.redirect_uris,
              scopes: v.scopes,
            }
          : null;
      return {
        appId: app.id,
        organizationId: app.organization_id,
        clientId: app.client_id,
        name: app.name,
        status: app.status,
        live: side(versions.find((v) => v.state === 'live')),
        open: side(versions.find((v) => OPEN_STATES.has(v.state))),
      };
    },

    // Versions -----------------------------------------------------------------

    async listVersions(
      ctx: OrgContext,
      appId: string,
      opts: { limit: number; cursor?: string },
    ): Promise<Page<AppVersion>> {
      await appOf(db, ctx, appId);
      const after = decodeCursor(opts.cursor);
      const rows = await db.query(
        `SELECT * FROM app_versions WHERE app_id = $1 AND ($2::int IS NULL OR number < $2)
         ORDER BY number DESC LIMIT $3`,
        [appId, after ? Number(after[0]) : null, opts.limit + 1],
      );
      const page = toPage(
        rows,
        opts.limit,
        (r) => [r.number],
        (r) => r,
      );
      return { data: await Promise.all(page.data.map((r) => toVersion(db, r))), nextCursor: page.nextCursor };
    },

    async getVersion(ctx: OrgContext, appId: string, versionId: string): Promise<AppVersion> {
      return toVersion(db, await versionOf(db, ctx, appId, versionId));
    },

    /** The next version: a draft copied from the live version (or the latest one). One open version at a time. */
    async createVersion(ctx: OrgContext, appId: string): Promise<AppVersion> {
      return db.transaction(async (tx) => {
        const app = await appOf(tx, ctx, appId, true);
        const open = await tx.maybeOne(
          'SELECT number, state FROM app_versions WHERE app_id = $1 AND state = ANY($2)',
          [app.id, [...OPEN_STATES]],
        );
        if (open)
          throw conflict(
            `version ${open.number} is still open (${open.state.replace('_', ' ')}); finish or withdraw it first`,
          );
        const source: any =
          (await tx.maybeOne(`SELECT * FROM app_versions WHERE app_id = $1 AND state = 'live'`, [app.id])) ??
          (await tx.one('SELECT * FROM app_versions WHERE app_id = $1 ORDER BY number DESC LIMIT 1', [
            app.id,
          ]));
        const { max } = await tx.one<{ max: number }>(
          'SELECT max(number)::int AS max FROM app_versions WHERE app_id = $1',
          [app.id],
        );
        const cols = FIELD_COLUMNS.map(([, c]) => c);
        const row = await tx.one(
          `INSERT INTO app_versions (id, app_id, organization_id, number, state, ${cols.join(', ')})
           SELECT $2, app_id, organization_id, $3, 'draft', ${cols.join(', ')} FROM app_versions WHERE id = $1
           RETURNING *`,
          [source.id, newId('ver'), max + 1],
        );
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'app_version.created',
          targetType: 'app_version',
          targetId: row.id,
          data: { appId: app.id, number: row.number, copiedFrom: source.id },
        });
        return toVersion(tx, row);
      });
    },

    updateVersion,

    /**
     * Stores an uploaded icon or screenshot and attaches it to an editable
     * version. The bytes decide the type: a header that disagrees is refused.
     */
    async uploadAsset(
      ctx: OrgContext,
      appId: string,
      versionId: string,
      kind: AssetKind,
      upload: { contentType: string; bytes: Buffer },
    ): Promise<AppVersion> {
      const limits = ASSET_LIMITS[kind];
      const declared = upload.contentType as ImageType;
      const sniffed = sniffImageType(upload.bytes);
      const unsupported = (reason: string) =>
        new PlazaError('PLAZA_UNSUPPORTED_MEDIA_TYPE', reason, { fields: [{ field: 'body', reason }] });
      if (!sniffed) throw unsupported('the body is not a PNG, JPEG or WebP image');
      if (sniffed !== declared)
        throw unsupported(
          `the body is a ${FORMAT_NAMES[sniffed]} image, not ${declared}: send Content-Type ${sniffed}`,
        );
      const image = readImage(upload.bytes);
      if (!image) throw unsupported(`the body is not a readable ${FORMAT_NAMES[sniffed]} image`);
      const { width, height } = image;
      if (kind === 'icon' && width !== height)
        throw invalid('body', `an icon must be square (got ${width}×${height})`);
      if (Math.min(width, height) < limits.minSide || Math.max(width, height) > limits.maxSide)
        throw invalid(
          'body',
          `a ${kind} must be between ${limits.minSide} and ${limits.maxSide} pixels per side (got ${width}×${height})`,
        );

      // Check the version before writing bytes anywhere.
      const row = await versionOf(db, ctx, appId, versionId);
      assertEditable(row);
      if (kind === 'screenshot' && row.screenshot_asset_ids.length >= ASSET_LIMITS.screenshot.perVersion)
        throw conflict(
          `a version has at most ${ASSET_LIMITS.screenshot.perVersion} screenshots; remove one first`,
        );

      const assetId = newId('ast');
      const key = `apps/${row.app_id}/${assetId}.${IMAGE_EXTENSIONS[sniffed]}`;
      await storage.put(key, upload.bytes);
      try {
        return await db.transaction(async (tx) => {
          const locked = await versionOf(tx, ctx, appId, versionId, true);
          assertEditable(locked);
          await tx.query(
            `INSERT INTO app_assets (id, app_id, organization_id, kind, content_type, bytes, width, height, storage_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
            [assetId, row.app_id, ctx.org.id, kind, sniffed, upload.bytes.length, width, height, key],
          );
          const updated = await writeContent(
            tx,
            locked.id,
            kind === 'icon'
              ? { iconAssetId: assetId }
              : { screenshotAssetIds: [...locked.screenshot_asset_ids, assetId] },
          );
          await audit.record(tx, {
            organizationId: ctx.org.id,
            actor: ctx.actor,
            action: 'app_asset.uploaded',
            targetType: 'app_asset',
            targetId: assetId,
            data: {
              appId: row.app_id,
              versionId: row.id,
              kind,
              contentType: sniffed,
              bytes: upload.bytes.length,
            },
          });
          return toVersion(tx, updated);
        });
      } catch (err) {
        await storage.delete(key).catch(() => {});
        throw err;
      }
    },

    /** The bytes of an asset for public serving (assets are public once uploaded; ids are unguessable). */
    async readAsset(assetId: string): Promise<{ contentType: string; bytes: Buffer } | undefined> {
      const row = await db.maybeOne('SELECT content_type, storage_key FROM app_assets WHERE id = $1', [
        assetId,
      ]);
      if (!row) return undefined;
      const bytes = await storage.get(row.storage_key);
      return bytes ? { contentType: row.content_type, bytes } : undefined;
    },

    // Manifest -------------------------------------------------------------------

    async exportManifest(ctx: OrgContext, appId: string, versionId: string): Promise<AppManifest> {
      const app = await appOf(db, ctx, appId);
      const c = contentOf(await versionOf(db, ctx, appId, versionId));
      const { iconAssetId, screenshotAssetIds, ...version } = c;
      return {
        $schema: `${config.baseUrl}/openapi.json#/components/schemas/AppManifest`,
        manifestVersion: 1,
        slug: app.slug,
        version,
        assets: { iconAssetId, screenshotAssetIds },
      };
    },

    /** Replaces an editable version's content with a manifest's (same validation as PATCH). */
    async importManifest(
      ctx: OrgContext,
      appId: string,
      versionId: string,
      manifest: AppManifest,
    ): Promise<AppVersion> {
      const app = await appOf(db, ctx, appId);
      if (manifest.slug !== app.slug)
        throw invalid('body.slug', `this manifest is for the app "${manifest.slug}", not "${app.slug}"`);
      const assets = manifest.assets
        ? { iconAssetId: manifest.assets.iconAssetId, screenshotAssetIds: manifest.assets.screenshotAssetIds }
        : {};
      // Asset references are validated under body.assets, the rest under body.version.
      if (manifest.assets) await validateFields(db, app.id, assets, 'body.assets');
      return updateVersion(
        ctx,
        appId,
        versionId,
        { ...manifest.version, ...assets },
        { at: 'body.version', action: 'app_version.manifest_imported' },
      );
    },

    // Diff -----------------------------------------------------------------------

    /** What changed against the live version (the reviewer sees the same). */
    async diff(ctx: OrgContext, appId: string, versionId: string) {
      return diffOf(db, await versionOf(db, ctx, appId, versionId));
    },

    // Status: unpublish / suspend -----------------------------------------------

    async unpublish(ctx: OrgContext, appId: string, reason: string | null) {
      if (!hasRole(ctx, 'admin')) throw forbidden('unpublishing needs the admin or owner role');
      return db.transaction(async (tx) => {
        const app = await appOf(tx, ctx, appId, true);
        if (app.status === 'suspended') throw conflict('the platform has suspended this app');
        if (app.status === 'unpublished') throw conflict('the app is already unpublished');
        await setStatus(tx, app, 'unpublished', reason, ctx.actor, 'app.unpublished');
        return detail(tx, await appOf(tx, ctx, appId));
      });
    },

    async republish(ctx: OrgContext, appId: string) {
      if (!hasRole(ctx, 'admin')) throw forbidden('republishing needs the admin or owner role');
      return db.transaction(async (tx) => {
        const app = await appOf(tx, ctx, appId, true);
        if (app.status === 'suspended')
          throw conflict('the platform has suspended this app; only the platform can reinstate it');
        if (app.status === 'active') throw conflict('the app is already published');
        await setStatus(tx, app, 'active', null, ctx.actor, 'app.republished');
        return detail(tx, await appOf(tx, ctx, appId));
      });
    },

    /**
     * Platform admins: every app, newest first, by status and by words in its
     * address or name. The developer organization's name comes from the
     * organizations service.
     */
    async adminList(opts: {
      status?: AppStatus;
      q?: string;
      limit: number;
      cursor?: string;
    }): Promise<Page<AdminAppRow>> {
      const after = decodeCursor(opts.cursor);
      const q = opts.q?.trim() || null;
      const rows = await db.query(
        `SELECT a.*, l.number AS live_number, l.state AS live_state,
           o.id AS open_id, o.number AS open_number, o.state AS open_state
         FROM apps a
         LEFT JOIN app_versions l ON l.id = a.live_version_id
         LEFT JOIN app_versions o ON o.app_id = a.id AND o.state = ANY($1)
         WHERE ($2::text IS NULL OR a.status = $2)
           AND ($3::text IS NULL OR a.slug ILIKE $3 OR a.name ILIKE $3)
           AND ($4::text IS NULL OR a.id < $4)
         ORDER BY a.id DESC LIMIT $5`,
        [
          [...OPEN_STATES],
          opts.status ?? null,
          q ? likePattern(q) : null,
          after ? String(after[0]) : null,
          opts.limit + 1,
        ],
      );
      const page = toPage(
        rows,
        opts.limit,
        (r) => [r.id],
        (r) => r,
      );
      const orgs = await organizations.byIds(page.data.map((r) => r.organization_id));
      return {
        data: page.data.map((r) => ({
          id: r.id,
          slug: r.slug,
          name: r.name,
          developer: { organizationId: r.organization_id, name: orgs.get(r.organization_id)?.name ?? '' },
          status: r.status,
          statusReason: r.status_reason,
          statusChangedAt: iso(r.status_changed_at),
          liveVersion: r.live_version_id
            ? { id: r.live_version_id, number: r.live_number, state: r.live_state }
            : null,
          openVersion: r.open_id ? { id: r.open_id, number: r.open_number, state: r.open_state } : null,
          createdAt: r.created_at.toISOString(),
        })),
        nextCursor: page.nextCursor,
      };
    },

    /** Platform admins: hide an app from the marketplace with a reason. Existing installs are decided elsewhere. */
    async suspend(actor: Actor, appId: string, reason: string) {
      return db.transaction(async (tx) => {
        const app = await tx.maybeOne('SELECT * FROM apps WHERE id = $1 FOR UPDATE', [appId]);
        if (!app) throw notFound('app');
        if (app.status === 'suspended') throw conflict('the app is already suspended');
        await setStatus(tx, app, 'suspended', reason, actor, 'app.suspended');
        return detail(tx, await tx.one('SELECT * FROM apps WHERE id = $1', [appId]));
      });
    },

    async reinstate(actor: Actor, appId: string) {
      return db.transaction(async (tx) => {
        const app = await tx.maybeOne('SELECT * FROM apps WHERE id = $1 FOR UPDATE', [appId]);
        if (!app) throw notFound('app');
        if (app.status !== 'suspended') throw conflict('only a suspended app can be reinstated');
        await setStatus(tx, app, 'active', null, actor, 'app.reinstated');
        return detail(tx, await tx.one('SELECT * FROM apps WHERE id = $1', [appId]));
      });
    },

    // Development mode -------------------------------------------------------------

    /**
     * May `appId` be installed into the account `accountOrgId`? A live, active
     * app anywhere; an app without a live version, or its open version
     * (`opts.versionId`), only into test accounts of its developer org;
     * a suspended or unpublished app nowhere. Throws 403/404 otherwise.
     */
    async assertInstallable(
      accountOrgId: string,
      appId: string,
      opts: { versionId?: string } = {},
    ): Promise<{ appId: string; versionId: string; development: boolean }> {
      const app = await db.maybeOne('SELECT * FROM apps WHERE id = $1', [appId]);
      if (!app) throw notFound('app');
      const account = await organizations.byId(accountOrgId);
      if (!account) throw notFound('organization');
      if (account.kind !== 'account') throw forbidden('apps are installed into accounts');
      if (app.status !== 'active') throw forbidden(`this app is ${app.status} and cannot be installed`);
      const wanted = opts.versionId
        ? await db.maybeOne('SELECT id, state FROM app_versions WHERE id = $1 AND app_id = $2', [
            opts.versionId,
            appId,
          ])
        : undefined;
      if (opts.versionId && !wanted) throw notFound('version');
      if (app.live_version_id && (!wanted || wanted.id === app.live_version_id))
        return { appId, versionId: app.live_version_id, development: false };
      // Development mode: unreviewed versions only in the developer's own test accounts.
      if (account.parentId !== app.organization_id)
        throw forbidden(
          'this version of the app is not reviewed yet; only test accounts of its developer can install it',
        );
      const version =
        wanted ??
        (await db.maybeOne('SELECT id, state FROM app_versions WHERE app_id = $1 AND state = ANY($2)', [
          appId,
          [...OPEN_STATES],
        ]));
      if (!version || (!OPEN_STATES.has(version.state) && version.state !== 'live'))
        throw forbidden('this version of the app cannot be installed');
      return { appId, versionId: version.id, development: true };
    },

    // For the reviews module -------------------------------------------------------

    /** A version's app and content, without a tenant check (reviewers, jobs). */
    async versionForReview(q: Queryable, versionId: string) {
      const row = await q.maybeOne('SELECT * FROM app_versions WHERE id = $1', [versionId]);
      if (!row) throw notFound('version');
      const app = await q.one('SELECT * FROM apps WHERE id = $1', [row.app_id]);
      return { app: toApp(app), version: await toVersion(q, row), content: contentOf(row) };
    },

    /** Checks a version belongs to the caller's organization's app; returns it. */
    async resolveVersion(ctx: OrgContext, appId: string, versionId: string): Promise<AppVersion> {
      return toVersion(db, await versionOf(db, ctx, appId, versionId));
    },

    /** The diff of any version against the live one, without a tenant check (reviewers). */
    async diffForReview(q: Queryable, versionId: string) {
      const row = await q.maybeOne('SELECT * FROM app_versions WHERE id = $1', [versionId]);
      if (!row) throw notFound('version');
      return diffOf(q, row);
    },

    /** Display names of apps by id: the live version's name, else the app's (contacts show who changed them). */
    async namesByIds(appIds: string[]): Promise<Map<string, string>> {
      if (appIds.length === 0) return new Map();
      const rows = await db.query<{ id: string; name: string }>(
        `SELECT a.id, coalesce(v.name, a.name) AS name FROM apps a
         LEFT JOIN app_versions v ON v.id = a.live_version_id WHERE a.id = ANY($1)`,
        [appIds],
      );
      return new Map(rows.map((r) => [r.id, r.name]));
    },

    /**
     * What an account's installed-apps page shows of each app: its name and
     * icon (live version, else the installed one), its live version (scopes,
     * install link) and the installed versions' numbers and scopes. No tenant
     * check: the caller lists the account's own installations.
     */
    async installedAppInfo(appIds: string[], versionIds: string[]) {
      const apps = appIds.length
        ? await db.query(
            `SELECT a.id, a.slug, a.status, a.name AS app_name, l.id AS live_id, l.number AS live_number,
               l.name AS live_name, l.scopes AS live_scopes, l.install_url AS live_install_url,
               l.icon_asset_id AS live_icon
             FROM apps a LEFT JOIN app_versions l ON l.id = a.live_version_id WHERE a.id = ANY($1)`,
            [appIds],
          )
        : [];
      const versions = versionIds.length
        ? await db.query(
            'SELECT id, app_id, number, name, scopes, icon_asset_id FROM app_versions WHERE id = ANY($1)',
            [versionIds],
          )
        : [];
      const iconUrl = (id: string | null) => (id ? assetUrl(id) : null);
      return {
        apps: new Map(
          apps.map((r) => [
            r.id as string,
            {
              appId: r.id as string,
              slug: r.slug as string,
              status: r.status as AppStatus,
              name: (r.live_name ?? r.app_name) as string,
              iconUrl: iconUrl(r.live_icon),
              live: r.live_id
                ? {
                    versionId: r.live_id as string,
                    number: r.live_number as number,
                    scopes: r.live_scopes as VersionFields['scopes'],
                    installUrl: (r.live_install_url ?? null) as string | null,
                  }
                : null,
            },
          ]),
        ),
        versions: new Map(
          versions.map((r) => [
            r.id as string,
            {
              versionId: r.id as string,
              appId: r.app_id as string,
              number: r.number as number,
              name: r.name as string,
              iconUrl: iconUrl(r.icon_asset_id),
              scopes: r.scopes as VersionFields['scopes'],
            },
          ]),
        ),
      };
    },

    /** App and version names for lists (the review queue). */
    async summaries(versionIds: string[]) {
      if (versionIds.length === 0) return new Map();
      const rows = await db.query(
        `SELECT v.id, v.number, v.state, v.name, a.id AS app_id, a.slug, a.organization_id
         FROM app_versions v JOIN apps a ON a.id = v.app_id WHERE v.id = ANY($1)`,
        [versionIds],
      );
      return new Map(
        rows.map((r) => [
          r.id as string,
          {
            versionId: r.id as string,
            number: r.number as number,
            state: r.state as VersionState,
            name: r.name as string,
            appId: r.app_id as string,
            slug: r.slug as string,
            organizationId: r.organization_id as string,
          },
        ]),
      );
    },

    /**
     * The one way a version's state changes (through the transition table).
     * Locks the version row. Approving retires the previous live version and
     * points the app at the new one. Throws 409 for a transition the table
     * does not allow.
     */
    async transition(
      tx: Tx,
      versionId: string,
      action: VersionAction,
      opts: { reviewKind?: 'full' | 'fast_track' } = {},
    ): Promise<{
      from: VersionState;
      to: VersionState;
      version: AppVersion;
      retiredVersionId: string | null;
    }> {
      const row = await tx.maybeOne('SELECT * FROM app_versions WHERE id = $1 FOR UPDATE', [versionId]);
      if (!row) throw notFound('version');
      const from = row.state as VersionState;
      const to = nextState(from, action);
      let retiredVersionId: string | null = null;
      if (action === 'approve') {
        const live = await tx.maybeOne(
          `SELECT id FROM app_versions WHERE app_id = $1 AND state = 'live' AND id <> $2 FOR UPDATE`,
          [row.app_id, row.id],
        );
        if (live) {
          await tx.query(`UPDATE app_versions SET state = $2, updated_at = now() WHERE id = $1`, [
            live.id,
            nextState('live', 'superseded'),
          ]);
          retiredVersionId = live.id;
        }
      }
      const updated = await tx.one(
        `UPDATE app_versions SET state = $2, updated_at = now(),
           submitted_at = CASE WHEN $3 THEN now() ELSE submitted_at END,
           review_kind = CASE WHEN $3 THEN $4 ELSE review_kind END,
           decided_at = CASE WHEN $5 THEN now() WHEN $3 THEN NULL ELSE decided_at END
         WHERE id = $1 RETURNING *`,
        [
          row.id,
          to,
          action === 'submit',
          opts.reviewKind ?? row.review_kind ?? null,
          action === 'approve' || action === 'request_changes',
        ],
      );
      if (action === 'approve')
        await tx.query('UPDATE apps SET live_version_id = $2, name = $3, updated_at = now() WHERE id = $1', [
          row.app_id,
          row.id,
          row.name,
        ]);
      return { from, to, version: await toVersion(tx, updated), retiredVersionId };
    },

    /** The public listing of an app's live version (null without one), for marketplace.publish. */
    listingFor,
  };
}
