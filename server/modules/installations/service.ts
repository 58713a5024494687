import type { z } from 'zod';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { conflict, forbidden, notFound } from '../../errors.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId } from '../../ids.ts';
import type { Actor, OrgContext } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import type { InstallationSchema } from './schemas.ts';

/**
 * Installations: which app is installed in which account, with which granted
 * scopes. This module owns the `installations` table; the OAuth issue creates
 * and removes rows through `create` / `uninstall`, the marketplace asks
 * `isActive` (who may review) and `countActive` (popularity).
 */
export type Installation = z.output<typeof InstallationSchema> & {
  /** The OAuth grant behind it (null for installations made without OAuth: seeds, tests). */
  grantId: string | null;
};

export interface CreateInstallationInput {
  /** The account organization the app goes into. */
  accountId: string;
  appId: string;
  /** The app version the account consented to. */
  versionId: string;
  grantedScopes: string[];
  /** Who approved it; `installed_by` is the actor's user id. */
  actor: Actor;
  /** The OAuth grant that backs it (the consent screen passes it). */
  grantId?: string;
}

/**
 * Which active installation to close: by id (within an account when given), by the
 * account and app, or by its OAuth grant.
 */
export type UninstallTarget =
  | { installationId: string; accountId?: string }
  | { accountId: string; appId: string }
  | { grantId: string };

const toInstallation = (r: any): Installation => ({
  id: r.id,
  accountId: r.account_id,
  appId: r.app_id,
  versionId: r.version_id,
  grantedScopes: r.granted_scopes,
  installedBy: r.installed_by,
  status: r.status,
  createdAt: r.created_at.toISOString(),
  uninstalledAt: r.uninstalled_at ? r.uninstalled_at.toISOString() : null,
  grantId: r.grant_id ?? null,
});

const isUniqueViolation = (err: unknown) => (err as { code?: string })?.code === '23505';

export type InstallationsService = ReturnType<typeof createInstallationsService>;

export function createInstallationsService(deps: {
  db: Db;
  audit: AuditService;
  events: EventsService;
  /** The plan's say (organization.limits): called in the creating transaction with the account's count. */
  checkLimit?: (q: Queryable, accountId: string, count: (q: Queryable) => Promise<number>) => Promise<void>;
}) {
  const { db, audit, events, checkLimit } = deps;

  /** Runs `fn` in the caller's transaction when given one, else in a new one. */
  const inTx = <T>(tx: Tx | undefined, fn: (tx: Tx) => Promise<T>) => (tx ? fn(tx) : db.transaction(fn));

  /** Audit and `app.uninstalled` for a row just closed. */
  async function closed(t: Tx, row: any, actor: Actor, reason: string | undefined): Promise<Installation> {
    const inst = toInstallation(row);
    await audit.record(t, {
      organizationId: inst.accountId,
      actor,
      action: 'app.uninstalled',
      targetType: 'installation',
      targetId: inst.id,
      data: { appId: inst.appId, ...(reason ? { reason } : {}) },
    });
    await events.emit(t, inst.accountId, 'app.uninstalled', {
      installationId: inst.id,
      accountId: inst.accountId,
      appId: inst.appId,
      ...(reason ? { reason } : {}),
    });
    return inst;
  }

  return {
    /**
     * Installs an app in an account; `app.installed` is emitted in the same
     * transaction. Pass `tx` to make it part of a larger change (the OAuth grant).
     * 409 when the app is already installed there.
     */
    async create(input: CreateInstallationInput, tx?: Tx): Promise<Installation> {
      return inTx(tx, async (t) => {
        const existing = await t.maybeOne(
          "SELECT id FROM installations WHERE account_id = $1 AND app_id = $2 AND status = 'active'",
          [input.accountId, input.appId],
        );
        if (existing) throw conflict('this app is already installed in this account');
        await checkLimit?.(t, input.accountId, async (q) => {
          const r = await q.one<{ n: number }>(
            "SELECT count(*)::int AS n FROM installations WHERE account_id = $1 AND status = 'active'",
            [input.accountId],
          );
          return r.n;
        });
        let row: any;
        try {
          row = await t.one(
            `INSERT INTO installations (id, account_id, app_id, version_id, granted_scopes, installed_by, grant_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
            [
              newId('inst'),
              input.accountId,
              input.appId,
              input.versionId,
              [...new Set(input.grantedScopes)].sort(),
              input.actor.userId,
              input.grantId ?? null,
            ],
          );
        } catch (err) {
          // A concurrent install of the same app won the race.
          if (isUniqueViolation(err)) throw conflict('this app is already installed in this account');
          throw err;
        }
        const inst = toInstallation(row);
        await audit.record(t, {
          organizationId: inst.accountId,
          actor: input.actor,
          action: 'app.installed',
          targetType: 'installation',
          targetId: inst.id,
          data: { appId: inst.appId, versionId: inst.versionId, grantedScopes: inst.grantedScopes },
        });
        await events.emit(t, inst.accountId, 'app.installed', {
          installationId: inst.id,
          accountId: inst.accountId,
          appId: inst.appId,
          versionId: inst.versionId,
          grantedScopes: inst.grantedScopes,
        });
        return inst;
      });
    },

    /**
     * Closes an active installation found by id, account and app, or OAuth grant.
     * Only the OAuth module calls it, and revokes the grant and its tokens in the
     * same transaction (there is deliberately no way to close an installation
     * that leaves its tokens working). Returns undefined when there is no such
     * active installation.
     */
    async uninstallWhere(
      target: UninstallTarget,
      actor: Actor,
      reason: string | undefined,
      tx: Tx,
    ): Promise<Installation | undefined> {
      // Which row: $1 is the actor, the target's values follow.
      const [match, values]: [string, unknown[]] =
        'grantId' in target
          ? ['grant_id = $2', [target.grantId]]
          : 'appId' in target
            ? ['account_id = $2 AND app_id = $3', [target.accountId, target.appId]]
            : [
                'id = $2 AND ($3::text IS NULL OR account_id = $3)',
                [target.installationId, target.accountId ?? null],
              ];
      const row = await tx.maybeOne(
        `UPDATE installations SET status = 'uninstalled', uninstalled_at = now(), uninstalled_by = $1
         WHERE ${match} AND status = 'active' RETURNING *`,
        [actor.userId, ...values],
      );
      return row ? closed(tx, row, actor, reason) : undefined;
    },

    /** Points an installation at the OAuth grant that now backs it. */
    async attachGrant(installationId: string, grantId: string, tx: Tx): Promise<void> {
      await tx.query('UPDATE installations SET grant_id = $2 WHERE id = $1', [installationId, grantId]);
    },

    /**
     * In-place scope change approved on the consent screen (a new version asks
     * for more access): the installation moves to `versionId` with `grantedScopes`.
     */
    async changeScopes(
      input: { installationId: string; versionId: string; grantedScopes: string[]; actor: Actor },
      tx: Tx,
    ): Promise<Installation> {
      const before = await tx.maybeOne(
        "SELECT * FROM installations WHERE id = $1 AND status = 'active' FOR UPDATE",
        [input.installationId],
      );
      if (!before) throw notFound('installation');
      const row = await tx.one(
        'UPDATE installations SET version_id = $2, granted_scopes = $3 WHERE id = $1 RETURNING *',
        [input.installationId, input.versionId, [...new Set(input.grantedScopes)].sort()],
      );
      const inst = toInstallation(row);
      await audit.record(tx, {
        organizationId: inst.accountId,
        actor: input.actor,
        action: 'app.scopes_changed',
        targetType: 'installation',
        targetId: inst.id,
        data: {
          appId: inst.appId,
          fromVersionId: before.version_id,
          versionId: inst.versionId,
          from: before.granted_scopes,
          to: inst.grantedScopes,
        },
      });
      return inst;
    },

    /** The installation backed by an OAuth grant (active or not). */
    async findByGrantId(grantId: string, q: Queryable = db): Promise<Installation | undefined> {
      const row = await q.maybeOne('SELECT * FROM installations WHERE grant_id = $1', [grantId]);
      return row ? toInstallation(row) : undefined;
    },

    async isActive(accountId: string, appId: string): Promise<boolean> {
      const row = await db.maybeOne(
        "SELECT 1 FROM installations WHERE account_id = $1 AND app_id = $2 AND status = 'active'",
        [accountId, appId],
      );
      return Boolean(row);
    },

    /** The account's active installation of the app, if any. */
    async findActive(accountId: string, appId: string): Promise<Installation | undefined> {
      const row = await db.maybeOne(
        "SELECT * FROM installations WHERE account_id = $1 AND app_id = $2 AND status = 'active'",
        [accountId, appId],
      );
      return row ? toInstallation(row) : undefined;
    },

    /** An installation by id (active or not), with no access check: callers check the app or account. */
    async findById(id: string, q: Queryable = db): Promise<Installation | undefined> {
      const row = await q.maybeOne('SELECT * FROM installations WHERE id = $1', [id]);
      return row ? toInstallation(row) : undefined;
    },

    /** An app's active installations, oldest first (the app's own view: `GET /v1/app/installations`). */
    async listActiveForApp(
      appId: string,
      page: { limit: number; cursor?: string },
    ): Promise<Page<Installation>> {
      const after = decodeCursor(page.cursor);
      const rows = await db.query(
        `SELECT * FROM installations WHERE app_id = $1 AND status = 'active'
           AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3`,
        [appId, after ? String(after[0]) : null, page.limit + 1],
      );
      return toPage(rows, page.limit, (r) => [r.id], toInstallation);
    },

    /** Active installations of an app (popularity). Pass `q` to read inside a transaction. */
    async countActive(appId: string, q: Queryable = db): Promise<number> {
      const row = await q.one<{ n: number }>(
        "SELECT count(*)::int AS n FROM installations WHERE app_id = $1 AND status = 'active'",
        [appId],
      );
      return row.n;
    },

    /** The account's active installations, oldest first. */
    async listForAccount(
      ctx: OrgContext,
      page: { limit: number; cursor?: string },
    ): Promise<Page<Installation>> {
      if (ctx.org.kind !== 'account') throw forbidden('only accounts have installations');
      const after = decodeCursor(page.cursor);
      const rows = await db.query(
        `SELECT * FROM installations WHERE account_id = $1 AND status = 'active'
           AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3`,
        [ctx.org.id, after ? String(after[0]) : null, page.limit + 1],
      );
      return toPage(rows, page.limit, (r) => [r.id], toInstallation);
    },

    /** For other modules (an agency's dashboard page): the active installations of these accounts, oldest first. */
    async activeForAccounts(accountIds: string[]): Promise<Installation[]> {
      if (!accountIds.length) return [];
      const rows = await db.query(
        "SELECT * FROM installations WHERE account_id = ANY($1) AND status = 'active' ORDER BY id",
        [accountIds],
      );
      return rows.map(toInstallation);
    },

    /** Which of these accounts have an active installation (of `appId` when given): one query, ids only. */
    async accountsWithActive(accountIds: string[], appId?: string): Promise<Set<string>> {
      if (!accountIds.length) return new Set();
      const rows = await db.query(
        `SELECT DISTINCT account_id FROM installations
         WHERE account_id = ANY($1) AND status = 'active' AND ($2::text IS NULL OR app_id = $2)`,
        [accountIds, appId ?? null],
      );
      return new Set(rows.map((r) => r.account_id as string));
    },
  };
}
