import { conflict, invalid } from '../../errors.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId } from '../../ids.ts';
import type { OrgContext } from '../../tenancy.ts';
import { clientCredentials } from './credentials.ts';
import { lookupMethods } from './lookups.ts';
import type { AppDetail, AppVersion } from './model.ts';
import { RESERVED_SLUGS, SLUG, type VersionFields } from './schemas.ts';
import { type AppsDeps, createAppsShared } from './shared.ts';
import { statusMethods } from './status.ts';
import { versionMethods } from './versions.ts';

export * from './model.ts';

export type AppsService = ReturnType<typeof createAppsService>;

/**
 * The developer app registry. The service is put together from its parts:
 * apps (here), client credentials, versions, status, and lookups for other modules.
 */
export function createAppsService(deps: AppsDeps) {
  const s = createAppsShared(deps);
  const { db, audit, toVersion, appOf, detail, insertSecret } = s;
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
    ...clientCredentials(s),
    ...versionMethods(s),
    ...statusMethods(s),
    ...lookupMethods(s),
  };
}
