import type { Db, Queryable } from '../../db/index.ts';
import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { newId } from '../../ids.ts';
import type { Actor, OrgContext } from '../../tenancy.ts';

export interface AuditEntry {
  id: string;
  organizationId: string | null;
  action: string;
  actorUserId: string | null;
  actorEmail: string | null;
  actorApiKeyId: string | null;
  targetType: string | null;
  targetId: string | null;
  ip: string | null;
  requestId: string | null;
  data: Record<string, unknown>;
  createdAt: string;
}

export interface AuditRecord {
  organizationId: string | null;
  actor: Actor;
  /** `session.created`, `member.role_changed`, `api_key.revoked` ... */
  action: string;
  targetType?: string;
  targetId?: string;
  data?: Record<string, unknown>;
}

const toEntry = (r: any): AuditEntry => ({
  id: r.id,
  organizationId: r.organization_id,
  action: r.action,
  actorUserId: r.actor_user_id,
  actorEmail: r.actor_email ?? null,
  actorApiKeyId: r.actor_api_key_id,
  targetType: r.target_type,
  targetId: r.target_id,
  ip: r.ip,
  requestId: r.request_id,
  data: r.data,
  createdAt: r.created_at.toISOString(),
});

export type AuditService = ReturnType<typeof createAuditService>;

export function createAuditService({ db }: { db: Db }) {
  async function list(
    where: string,
    params: unknown[],
    opts: { limit: number; cursor?: string },
  ): Promise<Page<AuditEntry>> {
    const after = decodeCursor(opts.cursor);
    const args = [...params, opts.limit + 1];
    let cond = where;
    if (after) {
      args.push(String(after[0]));
      cond += ` AND a.id < $${args.length}`;
    }
    const rows = await db.query(
      `SELECT a.* FROM audit_events a WHERE ${cond} ORDER BY a.id DESC LIMIT $${params.length + 1}`,
      args,
    );
    return toPage(rows, opts.limit, (r) => [r.id], toEntry);
  }

  return {
    /** Writes one entry; pass the transaction of the change so both commit together. */
    async record(q: Queryable, rec: AuditRecord): Promise<void> {
      await q.query(
        `INSERT INTO audit_events (id, organization_id, actor_user_id, actor_email, actor_api_key_id, action,
           target_type, target_id, ip, request_id, data) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
        [
          newId('aud'),
          rec.organizationId,
          rec.actor.userId,
          rec.actor.email,
          rec.actor.apiKeyId ?? null,
          rec.action,
          rec.targetType ?? null,
          rec.targetId ?? null,
          rec.actor.ip,
          rec.actor.requestId,
          JSON.stringify(rec.data ?? {}),
        ],
      );
    },
    /** The organization's log; the route requires admin or owner. */
    listForOrganization: (ctx: OrgContext, opts: { limit: number; cursor?: string }) =>
      list('a.organization_id = $1', [ctx.org.id], opts),
    /** A person's own sign-ins and account events (no organization). */
    listForUser: (userId: string, opts: { limit: number; cursor?: string }) =>
      list('a.actor_user_id = $1 AND a.organization_id IS NULL', [userId], opts),
    /** Every entry, for platform operators. */
    listAll: (opts: { limit: number; cursor?: string; organizationId?: string }) =>
      opts.organizationId
        ? list('a.organization_id = $1', [opts.organizationId], opts)
        : list('true', [], opts),
  };
}
