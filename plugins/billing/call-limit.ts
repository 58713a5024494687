import { PlazaError, type Queryable } from '../../server/plugin-api/index.ts';

/**
 * The abuse limit on metered routes (events, batch, deduct, reserve): at most
 * `perMinute` calls per app installation and clock minute of the database.
 * The count lives in `billing_call_windows` (one row per caller and minute,
 * incremented by one upsert that returns the new count), not in memory, so it
 * holds across API processes; the database's clock names the window, so
 * processes with skewed clocks still agree on it. A refused call still counts.
 */
export function createCallLimit(db: Queryable, perMinute: number) {
  return {
    /** Counts the call; past the limit, a 429 problem+json with Retry-After (seconds to the next minute). */
    async hit(installationId: string): Promise<void> {
      if (perMinute <= 0) return;
      const row = await db.one<{ calls: number; retry_after: number }>(
        `INSERT INTO billing_call_windows AS w (installation_id, window_start, calls)
         VALUES ($1, date_trunc('minute', now()), 1)
         ON CONFLICT (installation_id, window_start) DO UPDATE SET calls = w.calls + 1
         RETURNING w.calls,
                   ceil(extract(epoch FROM w.window_start + interval '1 minute' - now()))::int AS retry_after`,
        [installationId],
      );
      if (row.calls <= perMinute) return;
      const retryAfter = Math.max(1, row.retry_after);
      throw new PlazaError(
        'PLAZA_RATE_LIMITED',
        `at most ${perMinute} metered calls per minute per app installation; retry in ${retryAfter}s`,
        {
          headers: { 'Retry-After': String(retryAfter) },
          extra: { limit: perMinute, retryAfter },
        },
      );
    },
    /** Forgets windows that can no longer refuse anything. */
    async prune(): Promise<number> {
      const rows = await db.query(
        "DELETE FROM billing_call_windows WHERE window_start < now() - interval '1 hour' RETURNING 1",
      );
      return rows.length;
    },
  };
}

export type CallLimit = ReturnType<typeof createCallLimit>;
