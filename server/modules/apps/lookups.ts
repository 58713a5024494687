import type { Queryable, Tx } from '../../db/index.ts';
import { forbidden, notFound } from '../../errors.ts';
import type { OrgContext } from '../../tenancy.ts';
import type { AppStatus, AppVersion } from './model.ts';
import { contentOf, toApp } from './rows.ts';
import type { VersionFields } from './schemas.ts';
import type { AppsShared } from './shared.ts';
import { nextState, OPEN_STATES, type VersionAction, type VersionState } from './transitions.ts';

/** What other modules ask of apps: installability, review reads, names and summaries, and state transitions. */
export function lookupMethods(s: AppsShared) {
  const { db, organizations, assetUrl, toVersion, versionOf, diffOf, listingFor } = s;
  return {
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
