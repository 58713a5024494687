import { conflict, PlazaError } from '../../errors.ts';
import { TEST_EVENT } from './delivery.ts';
import { type AppRef, toMessage, type WebhookMessage } from './model.ts';
import { assertRange, endpointAudit, endpointRow, messageRow, type WebhooksParts } from './scoped.ts';

/** Largest range "replay missing" creates messages for in one call. */
export const REPLAY_MISSING_MAX = 10_000;

/** Sending again: one message, an endpoint's failed messages, or the events it missed. */
export function createReplay({ db, events, audit, engine }: WebhooksParts) {
  const auditFor = endpointAudit(audit);

  return {
    /** Every failed message of the endpoint created since `since` (and before `until`) is sent again. */
    async replayFailed(ref: AppRef, id: string, range: { since: string; until?: string }) {
      assertRange(range.since, range.until);
      const rows = await db.transaction(async (tx) => {
        const ep = await endpointRow(tx, ref, id);
        if (!ep.enabled) throw conflict('the endpoint is disabled: enable it first');
        const replayed = await tx.query<{ id: string }>(
          `WITH r AS (
             UPDATE webhook_messages m SET state = 'pending', round_attempts = 0, next_attempt_at = now(),
               failed_at = NULL, failure_reason = NULL, trigger = 'replay'
             WHERE m.endpoint_id = $1 AND m.failed_at IS NOT NULL AND m.state = 'failed' AND m.created_at >= $2
               AND ($3::timestamptz IS NULL OR m.created_at < $3)
               AND EXISTS (SELECT 1 FROM webhook_payloads p WHERE p.id = m.event_id)
             RETURNING m.id, m.endpoint_id, m.next_attempt_at),
           queued AS (INSERT INTO webhook_queue (message_id, endpoint_id, due_at) SELECT * FROM r)
           SELECT id FROM r`,
          [id, range.since, range.until ?? null],
        );
        await auditFor(tx, ref, 'webhook_endpoint.replayed_failed', id, {
          ...range,
          messages: replayed.length,
        });
        return replayed;
      });
      if (rows.length) engine.wake();
      return { replayed: rows.length };
    },

    /**
     * "Replay missing": messages for the events in the range that this
     * endpoint would receive now (its filters, the app's installations at the
     * time of each event with their current scopes, current mutes) and never
     * got, at most REPLAY_MISSING_MAX per call (`truncated` says there are more).
     */
    async replayMissing(ref: AppRef, id: string, range: { since: string; until?: string }) {
      assertRange(range.since, range.until);
      const ep = await endpointRow(db, ref, id);
      if (!ep.enabled) throw conflict('the endpoint is disabled: enable it first');
      const types = events.types();
      const candidates = await db.query(
        // One statement over the range, through the owners' set-based functions
        // (events_between, installations_open_at: inlined by PostgreSQL).
        `SELECT ev.id, ev.type, ev.organization_id, ev.payload, ev.created_at, inst.id AS installation_id
         FROM events_between($5, $6, $3) ev
         JOIN unnest($3::text[], $4::text[]) AS t(type, scope) ON t.type = ev.type
         LEFT JOIN LATERAL (
           SELECT o.id, o.granted_scopes FROM installations_open_at($2, ev.organization_id, ev.created_at) o
           WHERE ev.organization_id IS NOT NULL) inst ON true
         WHERE ev.type <> ALL($7::text[])
           AND (cardinality($8::text[]) = 0 OR ev.type = ANY($8))
           AND CASE
             WHEN ev.organization_id IS NULL THEN ev.payload->>'appId' = $2
             WHEN t.scope IS NULL THEN ev.payload->>'appId' = $2
             ELSE inst.id IS NOT NULL AND t.scope = ANY(inst.granted_scopes)
               AND NOT EXISTS (SELECT 1 FROM webhook_mutes mu WHERE mu.installation_id = inst.id AND mu.event_type = ev.type)
           END
           AND (cardinality($9::text[]) = 0 OR coalesce(ev.payload->>'installationId', inst.id) = ANY($9))
           AND NOT EXISTS (SELECT 1 FROM webhook_messages m WHERE m.event_id = ev.id AND m.endpoint_id = $1)
         ORDER BY ev.id LIMIT $10`,
        [
          id,
          ref.appId,
          types.map((t) => t.type),
          types.map((t) => t.scope),
          range.since,
          range.until ?? null,
          [TEST_EVENT],
          ep.event_types,
          ep.installation_ids,
          REPLAY_MISSING_MAX + 1,
        ],
      );
      const truncated = candidates.length > REPLAY_MISSING_MAX;
      const chosen = candidates.slice(0, REPLAY_MISSING_MAX);
      const created = await db.transaction(async (tx) => {
        const out = await engine.insertMessages(
          tx,
          chosen.map((ev) => ({
            id: ev.id,
            type: ev.type,
            accountId: ev.organization_id,
            data: JSON.stringify(ev.payload),
            occurredAt: ev.created_at,
          })),
          chosen.map((ev) => ({
            event_id: ev.id,
            endpoint_id: id,
            app_id: ref.appId,
            installation_id: ev.organization_id
              ? typeof ev.payload?.installationId === 'string'
                ? ev.payload.installationId
                : ev.installation_id
              : null,
          })),
          'replay',
        );
        await auditFor(tx, ref, 'webhook_endpoint.replayed_missing', id, { ...range, messages: out.length });
        return out;
      });
      if (created.length) engine.wake();
      return { created: created.length, truncated };
    },

    /** Sends a message again (a new round of attempts, same webhook-id). 409 while it is pending. */
    async replayMessage(ref: AppRef, id: string): Promise<WebhookMessage> {
      const row = await db.transaction(async (tx) => {
        const m = await messageRow(tx, ref, id, true);
        if (m.state === 'pending') throw conflict('the message is still being delivered');
        const ep = await tx.one('SELECT enabled FROM webhook_endpoints WHERE id = $1', [m.endpoint_id]);
        if (!ep.enabled) throw conflict('the endpoint is disabled: enable it first');
        const payload = await tx.maybeOne('SELECT 1 FROM webhook_payloads WHERE id = $1', [m.event_id]);
        if (!payload)
          throw new PlazaError('PLAZA_GONE', 'the payload of this message was deleted (retention)');
        const updated = await tx.one(
          `WITH r AS (
             UPDATE webhook_messages SET state = 'pending', round_attempts = 0, next_attempt_at = now(),
               failed_at = NULL, failure_reason = NULL, trigger = 'replay'
             WHERE id = $1 RETURNING *),
           queued AS (INSERT INTO webhook_queue (message_id, endpoint_id, due_at)
             SELECT id, endpoint_id, next_attempt_at FROM r)
           SELECT * FROM r`,
          [id],
        );
        await auditFor(tx, ref, 'webhook_message.replayed', m.endpoint_id, { messageId: id });
        return updated;
      });
      engine.wake();
      return toMessage(row);
    },
  };
}
