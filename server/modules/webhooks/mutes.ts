import { forbidden, invalid, notFound } from '../../errors.ts';
import type { OrgContext } from '../../tenancy.ts';
import { knownType, type WebhooksParts } from './scoped.ts';

/** Per-installation mutes, set by the account: event types its apps' endpoints no longer receive. */
export function createMutes({ db, events, audit, installations }: WebhooksParts) {
  /** Event types muted for one installation of the account, and those that could be. */
  async function listMutes(ctx: OrgContext, installationId: string) {
    if (ctx.org.kind !== 'account') throw forbidden('only accounts have installations');
    const inst = await installations.findById(installationId);
    if (!inst || inst.accountId !== ctx.org.id) throw notFound('installation');
    const rows = await db.query<{ event_type: string }>(
      'SELECT event_type FROM webhook_mutes WHERE installation_id = $1 ORDER BY event_type',
      [installationId],
    );
    return {
      installationId,
      appId: inst.appId,
      muted: rows.map((r) => r.event_type),
      mutable: events
        .types()
        .filter((t) => t.scope !== null && inst.grantedScopes.includes(t.scope))
        .map((t) => ({ type: t.type, description: t.description, scope: t.scope as string })),
    };
  }

  return {
    listMutes,

    /** Replaces the muted event types of an installation (types that need a scope only). */
    async setMutes(ctx: OrgContext, installationId: string, eventTypes: string[]) {
      if (ctx.org.kind !== 'account') throw forbidden('only accounts have installations');
      const inst = await installations.findById(installationId);
      if (!inst || inst.accountId !== ctx.org.id) throw notFound('installation');
      const list = [...new Set(eventTypes)];
      list.forEach((t, i) => {
        const def = knownType(events, t);
        if (!def) throw invalid(`body.eventTypes.${i}`, `unknown event type ${t}`);
        if (def.scope === null)
          throw invalid(
            `body.eventTypes.${i}`,
            `${t} is part of how apps work (privacy, installs) and cannot be muted`,
          );
      });
      await db.transaction(async (tx) => {
        const before = await tx.query<{ event_type: string }>(
          'SELECT event_type FROM webhook_mutes WHERE installation_id = $1 FOR UPDATE',
          [installationId],
        );
        await tx.query(
          'DELETE FROM webhook_mutes WHERE installation_id = $1 AND event_type <> ALL($2::text[])',
          [installationId, list],
        );
        await tx.query(
          `INSERT INTO webhook_mutes (installation_id, event_type, account_id, created_by)
           SELECT $1, t, $2, $3 FROM unnest($4::text[]) AS t ON CONFLICT DO NOTHING`,
          [installationId, ctx.org.id, ctx.actor.userId, list],
        );
        await audit.record(tx, {
          organizationId: ctx.org.id,
          actor: ctx.actor,
          action: 'webhook_mutes.changed',
          targetType: 'installation',
          targetId: installationId,
          data: { appId: inst.appId, from: before.map((r) => r.event_type).sort(), to: list.sort() },
        });
      });
      return listMutes(ctx, installationId);
    },
  };
}
