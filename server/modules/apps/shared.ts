import type { Config } from '../../config.ts';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { conflict, type FieldError, notFound, PlazaError } from '../../errors.ts';
import { newId, newSecret } from '../../ids.ts';
import { renderMarkdown } from '../../lib/markdown.ts';
import { installUrlProblem, redirectUriProblem } from '../../lib/urls.ts';
import type { ScopeCatalog } from '../../scopes.ts';
import type { Storage } from '../../storage/index.ts';
import type { Actor, OrgContext } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import type { ListingInput } from '../marketplace/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import { diffVersions, type VersionContent, type VersionDiff } from './diff.ts';
import type {
  AppDetail,
  AppStatus,
  AppVersion,
  Asset,
  MarketplacePort,
  VersionPatch,
  VersionSummary,
} from './model.ts';
import { columnValue, contentOf, FIELD_COLUMNS, iso, sha256, summaryOf, toApp } from './rows.ts';
import { EDITABLE_STATES, OPEN_STATES } from './transitions.ts';

export interface AppsDeps {
  db: Db;
  config: Config;
  audit: AuditService;
  events: EventsService;
  scopes: ScopeCatalog;
  storage: Storage;
  organizations: OrganizationsService;
  marketplace: MarketplacePort;
}

/** What the parts of the apps service share: the dependencies and the helpers that read and write versions. */
export type AppsShared = ReturnType<typeof createAppsShared>;

export function createAppsShared(deps: AppsDeps) {
  const { db, config, audit, events, scopes, organizations, marketplace } = deps;
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
    const developer = await organizations.byId(app.organization_id, q);
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
    ...deps,
    assetUrl,
    toAsset,
    assetsByIds,
    toVersion,
    appOf,
    versionOf,
    assertEditable,
    detail,
    insertSecret,
    validateFields,
    writeContent,
    baseFor,
    diffOf,
    listingFor,
    setStatus,
    updateVersion,
  };
}
