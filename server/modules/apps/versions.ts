import { conflict, invalid, PlazaError } from '../../errors.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId } from '../../ids.ts';
import type { OrgContext } from '../../tenancy.ts';
import { FORMAT_NAMES, IMAGE_EXTENSIONS, type ImageType, readImage, sniffImageType } from './images.ts';
import { type AppVersion, ASSET_LIMITS, type AssetKind } from './model.ts';
import { contentOf, FIELD_COLUMNS } from './rows.ts';
import type { AppManifest } from './schemas.ts';
import type { AppsShared } from './shared.ts';
import { OPEN_STATES } from './transitions.ts';

/** Versions: listing, creating and editing them, their assets, the manifest and the diff. */
export function versionMethods(s: AppsShared) {
  const {
    db,
    config,
    audit,
    storage,
    toVersion,
    appOf,
    versionOf,
    assertEditable,
    validateFields,
    writeContent,
    diffOf,
    updateVersion,
  } = s;
  return {
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
  };
}
