import { decodeCursor, type Page, toPage } from '../../http/pagination.ts';
import { messageBody } from './delivery.ts';
import {
  type AppRef,
  type MessageFilters,
  toAttempt,
  toMessage,
  type WebhookAttempt,
  type WebhookMessage,
  type WebhookMessageDetail,
} from './model.ts';
import { endpointRow, messageRow, type WebhooksParts } from './scoped.ts';

/** The log: an app's messages (the failed ones are the dead letters) and every attempt, per message or endpoint. */
export function createMessageLog({ db }: WebhooksParts) {
  return {
    /** Attempts of an endpoint, newest first. */
    async listEndpointAttempts(
      ref: AppRef,
      id: string,
      q: { success?: boolean; since?: string; until?: string; limit: number; cursor?: string },
    ): Promise<Page<WebhookAttempt>> {
      await endpointRow(db, ref, id);
      const after = decodeCursor(q.cursor);
      const rows = await db.query(
        `SELECT * FROM webhook_attempts WHERE endpoint_id = $1 AND app_id = $2
           AND ($3::boolean IS NULL OR success = $3) AND ($4::timestamptz IS NULL OR started_at >= $4)
           AND ($5::timestamptz IS NULL OR started_at < $5) AND ($6::text IS NULL OR id < $6)
         ORDER BY id DESC LIMIT $7`,
        [
          id,
          ref.appId,
          q.success ?? null,
          q.since ?? null,
          q.until ?? null,
          after ? String(after[0]) : null,
          q.limit + 1,
        ],
      );
      return toPage(rows, q.limit, (r) => [r.id], toAttempt);
    },

    /** The app's messages, newest first; `state: 'failed'` is the dead-letter list. */
    async listMessages(
      ref: AppRef,
      q: MessageFilters & { limit: number; cursor?: string },
    ): Promise<Page<WebhookMessage>> {
      const after = decodeCursor(q.cursor);
      const rows = await db.query(
        `SELECT * FROM webhook_messages WHERE app_id = $1
           AND ($2::text IS NULL OR endpoint_id = $2) AND ($3::text IS NULL OR state = $3)
           AND ($4::text IS NULL OR event_type = $4) AND ($5::timestamptz IS NULL OR created_at >= $5)
           AND ($6::timestamptz IS NULL OR created_at < $6) AND ($7::text IS NULL OR id < $7)
         ORDER BY id DESC LIMIT $8`,
        [
          ref.appId,
          q.endpointId ?? null,
          q.state ?? null,
          q.eventType ?? null,
          q.since ?? null,
          q.until ?? null,
          after ? String(after[0]) : null,
          q.limit + 1,
        ],
      );
      return toPage(rows, q.limit, (r) => [r.id], toMessage);
    },

    /** One message with its body as sent. */
    async getMessage(ref: AppRef, id: string): Promise<WebhookMessageDetail> {
      const row = await messageRow(db, ref, id);
      const p = await db.maybeOne('SELECT * FROM webhook_payloads WHERE id = $1', [row.event_id]);
      const payload = p
        ? JSON.parse(
            messageBody({
              eventId: row.event_id,
              type: p.type,
              occurredAt: p.occurred_at,
              accountId: row.account_id,
              installationId: row.installation_id,
              data: p.data,
            }),
          )
        : null;
      return { ...toMessage(row), payload };
    },

    /** Attempts of a message, oldest first. */
    async listAttempts(
      ref: AppRef,
      messageId: string,
      page: { limit: number; cursor?: string },
    ): Promise<Page<WebhookAttempt>> {
      await messageRow(db, ref, messageId);
      const after = decodeCursor(page.cursor);
      const rows = await db.query(
        `SELECT * FROM webhook_attempts WHERE message_id = $1 AND app_id = $2 AND ($3::text IS NULL OR id > $3)
         ORDER BY id LIMIT $4`,
        [messageId, ref.appId, after ? String(after[0]) : null, page.limit + 1],
      );
      return toPage(rows, page.limit, (r) => [r.id], toAttempt);
    },
  };
}
