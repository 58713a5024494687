import { conflict, forbidden, notFound } from '../../errors.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { type Actor, hasRole, type OrgContext } from '../../tenancy.ts';
import type { AdminAppRow, AppStatus } from './model.ts';
import { iso, likePattern } from './rows.ts';
import type { AppsShared } from './shared.ts';
import { OPEN_STATES } from './transitions.ts';

/** Status: developers unpublish and republish; platform admins list, suspend and reinstate. */
export function statusMethods(s: AppsShared) {
  const { db, organizations, appOf, detail, setStatus } = s;
  return {
    // Dashboards -------------------------------------------------------------------

    /** The apps of a developer organization, id and name (a developer has tens, not thousands). */
    async namesOfOrganization(organizationId: string): Promise<Array<{ id: string; name: string }>> {
      return db.query('SELECT id, name FROM apps WHERE organization_id = $1 ORDER BY created_at, id', [
        organizationId,
      ]);
    },

    /** Organizations that have at least one app (the weekly developer summary goes to them). */
    async developerOrganizationIds(): Promise<string[]> {
      const rows = await db.query('SELECT DISTINCT organization_id FROM apps ORDER BY organization_id');
      return rows.map((r) => r.organization_id as string);
    },

    /** How many apps have a version in each review state now (operator dashboard). */
    async reviewStateCounts(): Promise<Array<{ state: string; apps: number }>> {
      return db.query(
        'SELECT state, count(DISTINCT app_id)::int AS apps FROM app_versions GROUP BY state ORDER BY state',
      );
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
  };
}
