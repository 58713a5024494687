import type { Db, Tx } from '../../db/index.ts';
import { notFound } from '../../errors.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId } from '../../ids.ts';
import type { Logger } from '../../logger.ts';
import type { IdentityService } from '../identity/index.ts';
import type { MailService } from '../mail/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';

/**
 * Tells people what happened to their things: an in-app notification per
 * person (listed by GET /v1/notifications), and optionally an email rendered
 * from templates/emails. Written in the caller's transaction; emails leave
 * only after it commits.
 */
export interface Notification {
  id: string;
  organizationId: string | null;
  kind: string;
  title: string;
  body: string;
  /** A path in the web app, e.g. /developer/apps/app_.../versions/ver_... */
  link: string | null;
  data: Record<string, unknown>;
  createdAt: string;
  readAt: string | null;
}

export interface NotifyInput {
  kind: string;
  title: string;
  body?: string;
  link?: string | null;
  data?: Record<string, unknown>;
  /** Also email each person: the template name and its data (`to` and `name` are added). */
  email?: { template: string; data: Record<string, unknown> };
}

const toNotification = (r: any): Notification => ({
  id: r.id,
  organizationId: r.organization_id,
  kind: r.kind,
  title: r.title,
  body: r.body,
  link: r.link,
  data: r.data,
  createdAt: r.created_at.toISOString(),
  readAt: r.read_at?.toISOString() ?? null,
});

export type NotificationsService = ReturnType<typeof createNotificationsService>;

export function createNotificationsService(deps: {
  db: Db;
  identity: IdentityService;
  organizations: OrganizationsService;
  mail: MailService;
  log: Logger;
}) {
  const { db, identity, organizations, mail, log } = deps;

  async function notifyUsers(tx: Tx, organizationId: string | null, userIds: string[], n: NotifyInput) {
    const unique = [...new Set(userIds)];
    for (const userId of unique) {
      await tx.query(
        `INSERT INTO notifications (id, user_id, organization_id, kind, title, body, link, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          newId('ntf'),
          userId,
          organizationId,
          n.kind,
          n.title,
          n.body ?? '',
          n.link ?? null,
          JSON.stringify(n.data ?? {}),
        ],
      );
    }
    if (n.email && unique.length) {
      const email = n.email;
      const users = await identity.usersByIds(unique, tx);
      tx.afterCommit(async () => {
        for (const user of users.values()) {
          await mail
            .send(email.template, { ...email.data, to: user.email, name: user.name })
            .catch((err) =>
              log.error({ err, template: email.template }, 'could not queue a notification email'),
            );
        }
      });
    }
    return unique.length;
  }

  return {
    /** Notifies the given people. Returns how many were notified. */
    notifyUsers,

    /** Notifies every member of an organization. Returns how many were notified. */
    async notifyOrganization(tx: Tx, organizationId: string, n: NotifyInput): Promise<number> {
      const members = await organizations.memberIds(organizationId, tx);
      return notifyUsers(tx, organizationId, members, n);
    },

    async list(
      userId: string,
      opts: { limit: number; cursor?: string; unread?: boolean },
    ): Promise<Page<Notification> & { unreadCount: number }> {
      const after = decodeCursor(opts.cursor);
      const rows = await db.query(
        `SELECT * FROM notifications WHERE user_id = $1 AND ($2::text IS NULL OR id < $2)
           AND (NOT $3 OR read_at IS NULL) ORDER BY id DESC LIMIT $4`,
        [userId, after ? String(after[0]) : null, opts.unread ?? false, opts.limit + 1],
      );
      const { n } = await db.one<{ n: number }>(
        'SELECT count(*)::int AS n FROM notifications WHERE user_id = $1 AND read_at IS NULL',
        [userId],
      );
      return { ...toPage(rows, opts.limit, (r) => [r.id], toNotification), unreadCount: n };
    },

    async markRead(userId: string, id: string): Promise<Notification> {
      const row = await db.maybeOne(
        `UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE id = $1 AND user_id = $2 RETURNING *`,
        [id, userId],
      );
      if (!row) throw notFound('notification');
      return toNotification(row);
    },

    async markAllRead(userId: string): Promise<{ marked: number }> {
      const rows = await db.query(
        'UPDATE notifications SET read_at = now() WHERE user_id = $1 AND read_at IS NULL RETURNING id',
        [userId],
      );
      return { marked: rows.length };
    },
  };
}
