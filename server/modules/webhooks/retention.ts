import type { Db } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';

/** Retention of webhook rows: payloads after `payloadRetentionDays`, messages and attempts after `logRetentionDays`. */
export function createRetention(deps: {
  db: Db;
  log: Logger;
  options: { payloadRetentionDays: number; logRetentionDays: number };
}) {
  const { db, log, options } = deps;

  async function deleteInBatches(sql: string, params: unknown[]): Promise<number> {
    let total = 0;
    for (;;) {
      const rows = await db.query(sql, params);
      total += rows.length;
      if (rows.length < 5000) return total;
    }
  }

  /** Deletes payloads past their retention, then messages and attempts past theirs. */
  async function runRetention(): Promise<{ payloads: number; messages: number; attempts: number }> {
    const payloads = await deleteInBatches(
      `DELETE FROM webhook_payloads WHERE id IN (SELECT id FROM webhook_payloads
         WHERE created_at < now() - $1 * interval '1 day' LIMIT 5000) RETURNING id`,
      [options.payloadRetentionDays],
    );
    const messages = await deleteInBatches(
      `DELETE FROM webhook_messages WHERE id IN (SELECT id FROM webhook_messages
         WHERE created_at < now() - $1 * interval '1 day' AND state <> 'pending' LIMIT 5000) RETURNING id`,
      [options.logRetentionDays],
    );
    const attempts = await deleteInBatches(
      `DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts
         WHERE started_at < now() - $1 * interval '1 day' LIMIT 5000) RETURNING id`,
      [options.logRetentionDays],
    );
    if (payloads || messages || attempts)
      log.info({ payloads, messages, attempts }, 'webhook retention deleted old rows');
    return { payloads, messages, attempts };
  }

  return runRetention;
}
