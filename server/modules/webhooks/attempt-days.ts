import type { Db } from '../../db/index.ts';

/**
 * Upper bounds (ms) of the latency buckets of `webhook_attempt_days`: an
 * attempt lands in the first bucket whose bound is above its duration; the
 * last bucket (index = length) holds the slower ones and attempts with no
 * duration. Percentiles read from it are the bound of the bucket they fall in.
 */
export const ATTEMPT_LATENCY_BOUNDS = [
  5, 10, 25, 50, 75, 100, 150, 250, 400, 600, 1000, 1500, 2500, 4000, 6000, 10_000, 15_000, 30_000,
] as const;

export interface AttemptDay {
  endpointId: string;
  appId: string;
  /** YYYY-MM-DD (UTC). */
  day: string;
  attempts: number;
  succeeded: number;
}

export interface EndpointLatency {
  endpointId: string;
  appId: string;
  url: string | null;
  attempts: number;
  succeeded: number;
  /** Upper bound (ms) of the bucket holding the median / 95th percentile; null without attempts. */
  p50Ms: number | null;
  p95Ms: number | null;
}

/** The bound of the bucket in which the q-quantile of a histogram falls. */
export function bucketQuantile(counts: number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i];
    if (seen >= rank) return ATTEMPT_LATENCY_BOUNDS[Math.min(i, ATTEMPT_LATENCY_BOUNDS.length - 1)];
  }
  return ATTEMPT_LATENCY_BOUNDS[ATTEMPT_LATENCY_BOUNDS.length - 1];
}

/**
 * Reads of the daily attempt counters (dashboards). `appIds` null: every app
 * (the operator's view).
 */
export function createAttemptDays(db: Db) {
  return {
    /** Attempts and successes per endpoint and day in [from, to] (dates). */
    async attemptDays(appIds: string[] | null, from: string, to: string): Promise<AttemptDay[]> {
      const rows = await db.query(
        `SELECT endpoint_id, app_id, to_char(day, 'YYYY-MM-DD') AS day, sum(attempts)::int AS attempts,
                sum(succeeded)::int AS succeeded
         FROM webhook_attempt_days
         WHERE ($1::text[] IS NULL OR app_id = ANY($1)) AND day BETWEEN $2 AND $3
         GROUP BY endpoint_id, app_id, day ORDER BY day, endpoint_id`,
        [appIds, from, to],
      );
      return rows.map((r) => ({
        endpointId: r.endpoint_id,
        appId: r.app_id,
        day: r.day,
        attempts: r.attempts,
        succeeded: r.succeeded,
      }));
    },

    /** Per endpoint over [from, to]: attempts, successes and latency p50/p95 (bucket bounds). */
    async endpointLatency(appIds: string[], from: string, to: string): Promise<EndpointLatency[]> {
      const rows = await db.query(
        `SELECT d.endpoint_id, d.app_id, e.url, d.bucket, sum(d.attempts)::int AS attempts,
                sum(d.succeeded)::int AS succeeded
         FROM webhook_attempt_days d LEFT JOIN webhook_endpoints e ON e.id = d.endpoint_id
         WHERE d.app_id = ANY($1) AND d.day BETWEEN $2 AND $3
         GROUP BY d.endpoint_id, d.app_id, e.url, d.bucket ORDER BY d.endpoint_id, d.bucket`,
        [appIds, from, to],
      );
      const by = new Map<string, { appId: string; url: string | null; counts: number[]; ok: number }>();
      for (const r of rows) {
        let e = by.get(r.endpoint_id);
        if (!e) {
          e = {
            appId: r.app_id,
            url: r.url,
            counts: new Array(ATTEMPT_LATENCY_BOUNDS.length + 1).fill(0),
            ok: 0,
          };
          by.set(r.endpoint_id, e);
        }
        e.counts[r.bucket] += r.attempts;
        e.ok += r.succeeded;
      }
      return [...by.entries()].map(([endpointId, e]) => ({
        endpointId,
        appId: e.appId,
        url: e.url,
        attempts: e.counts.reduce((a, b) => a + b, 0),
        succeeded: e.ok,
        p50Ms: bucketQuantile(e.counts, 0.5),
        p95Ms: bucketQuantile(e.counts, 0.95),
      }));
    },

    /** Messages waiting for delivery now across the platform (pending), and dead-lettered ones. */
    async backlog(): Promise<{ pending: number; failed: number }> {
      const row = await db.one<{ pending: number; failed: number }>(
        `SELECT (SELECT count(*)::int FROM webhook_queue) AS pending,
                (SELECT count(*)::int FROM webhook_messages WHERE failed_at IS NOT NULL AND state = 'failed') AS failed`,
      );
      return row;
    },
  };
}
