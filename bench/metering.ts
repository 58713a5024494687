/**
 * Billing's usage metering on PostgreSQL, in one run:
 *
 * 1. Ingestion: BENCH_METERING_EVENTS events (default 200,000) in batches of
 *    1,000 (the batch route's maximum), BENCH_METERING_CONCURRENCY batches in
 *    flight (default 4), over 100 accounts and 3 meters, through the plugin's
 *    `ingest` (meter and lateness checks, per-event idempotency on
 *    (account, transaction_id), in-batch duplicate detection, daily
 *    aggregates and distinct keys folded in the same statement), against a
 *    bare INSERT of the same rows (one unnest INSERT per batch into a table
 *    without key, index or aggregate), interleaved in rounds. Then every
 *    batch is sent again: all duplicates, nothing counted twice. Goal:
 *    >= 10,000 events/s with idempotency (Lago's published figure).
 * 2. Usage read for one account with a large history
 *    (BENCH_METERING_HISTORY events, default 1,000,000, all in one 30-day
 *    period): p50/p99 of reading that period's usage of every meter
 *    (the route's query), against summing the raw events of the period
 *    (with an index on (account_id, occurred_at), fewer reads: each scans the period).
 *
 *   npm run bench -- metering
 */
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { createMetering, type UsageEventInput } from '../plugins/billing/metering.ts';
import { connectPostgres, type Db } from '../server/db/index.ts';
import { runMigrations } from '../server/db/migrate.ts';

const ADMIN_URL = process.env.PLAZA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const EVENTS = Number(process.env.BENCH_METERING_EVENTS ?? 200_000);
const CONCURRENCY = Number(process.env.BENCH_METERING_CONCURRENCY ?? 4);
const HISTORY = Number(process.env.BENCH_METERING_HISTORY ?? 1_000_000);
const READS = Number(process.env.BENCH_METERING_READS ?? 500);
const RAW_READS = Number(process.env.BENCH_METERING_RAW_READS ?? 20);
const BATCH = 1000;
const ROUNDS = 5;
const DAY = 86_400_000;
const here = path.dirname(new URL(import.meta.url).pathname);

async function freshDatabase(): Promise<{ db: Db; drop: () => Promise<void> }> {
  const name = `plaza_bench_metering_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const db = connectPostgres(ADMIN_URL.replace(/\/[^/]*$/, `/${name}`), CONCURRENCY + 4);
  await runMigrations(db, [
    { owner: 'plugin:billing', dir: path.join(here, '../plugins/billing/migrations') },
  ]);
  return {
    db,
    async drop() {
      await db.close();
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function pool(count: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await fn(next++);
    }),
  );
  return performance.now() - started;
}

const METERS = ['api_calls', 'tokens', 'active_users'] as const;

/** Batch `b` of round `r`: one account's 1,000 events, within the last day. */
function batchOf(r: number, b: number): { accountId: string; events: UsageEventInput[] } {
  const now = Date.now();
  return {
    accountId: `acct_${b % 100}`,
    events: Array.from({ length: BATCH }, (_, i) => ({
      transactionId: `${r}-${b}-${i}-${randomUUID().slice(0, 8)}`,
      meter: METERS[i % 3],
      value: 1 + (i % 500),
      uniqueKey: `user_${i % 200}`,
      timestamp: new Date(now - (i % 1440) * 60_000),
    })),
  };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];

async function ingestion(): Promise<void> {
  const { db, drop } = await freshDatabase();
  try {
    const metering = createMetering(db, { latenessMs: 72 * 3_600_000 });
    for (const [key, aggregation] of [
      ['api_calls', 'count'],
      ['tokens', 'sum'],
      ['active_users', 'unique_count'],
    ] as const)
      await metering.createMeter({ key, name: key, aggregation });
    const meterIds = await metering.meters();
    await db.exec(`CREATE TABLE bare_events (account_id text, transaction_id text, meter_id text, value bigint,
      unique_key text, occurred_at timestamptz, received_at timestamptz DEFAULT now())`);
    const bare = async (batch: ReturnType<typeof batchOf>) => {
      const e = batch.events;
      await db.query(
        `INSERT INTO bare_events (account_id, transaction_id, meter_id, value, unique_key, occurred_at)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[])`,
        [
          batch.accountId,
          e.map((x) => x.transactionId),
          e.map((x) => meterIds.get(x.meter)!.id),
          e.map((x) => x.value),
          e.map((x) => (x.meter === 'active_users' ? x.uniqueKey : null)),
          e.map((x) => x.timestamp!.toISOString()),
        ],
        'bench_bare_events',
      );
    };
    let accepted = 0;
    const real = async (batch: ReturnType<typeof batchOf>) => {
      const out = await metering.ingest(batch.accountId, batch.events);
      accepted += out.filter((o) => o.status === 'accepted').length;
    };
    const per = Math.max(1, Math.ceil(EVENTS / BATCH / ROUNDS));
    // Warm-up: statements planned, caches filled.
    const warm = Array.from({ length: 20 }, (_, b) => batchOf(-1, b));
    await pool(warm.length, CONCURRENCY, (b) => real(warm[b]));
    await pool(warm.length, CONCURRENCY, (b) => bare(warm[b]));
    accepted = 0;
    let bareMs = 0;
    let realMs = 0;
    const sent: Array<ReturnType<typeof batchOf>> = [];
    for (let r = 0; r < ROUNDS; r++) {
      const batches = Array.from({ length: per }, (_, b) => batchOf(r, b));
      sent.push(...batches);
      bareMs += await pool(per, CONCURRENCY, (b) => bare(batches[b]));
      realMs += await pool(per, CONCURRENCY, (b) => real(batches[b]));
    }
    const total = per * ROUNDS * BATCH;
    const bareRate = total / (bareMs / 1000);
    const realRate = total / (realMs / 1000);
    let duplicates = 0;
    const replayMs = await pool(sent.length, CONCURRENCY, async (b) => {
      const out = await metering.ingest(sent[b].accountId, sent[b].events);
      duplicates += out.filter((o) => o.status === 'duplicate').length;
    });
    const counted = await db.one<{ n: number }>(`SELECT sum(events)::bigint AS n FROM billing_usage_daily`);
    const warmEvents = warm.length * BATCH;
    console.log(
      `ingestion: ${total} events in batches of ${BATCH}, ${CONCURRENCY} batches in flight, ${ROUNDS} interleaved rounds, 100 accounts`,
    );
    console.log(`  bare INSERT (no key, no aggregates)  ${bareRate.toFixed(0).padStart(8)} events/s`);
    console.log(`  ingest (idempotent, aggregated)      ${realRate.toFixed(0).padStart(8)} events/s`);
    console.log(
      `  ratio ${(realRate / bareRate).toFixed(2)}x of bare; ${realRate >= 10_000 ? 'meets' : 'misses'} the 10,000 events/s goal`,
    );
    console.log(
      `  replay of every batch: ${(total / (replayMs / 1000)).toFixed(0)} events/s, ${duplicates}/${total} answered duplicate; ` +
        `aggregates count ${Number(counted.n) - warmEvents} events for ${accepted} accepted (exactly once: ${
          Number(counted.n) - warmEvents === accepted && accepted === total ? 'yes' : 'NO'
        })`,
    );
  } finally {
    await drop();
  }
}

async function reads(): Promise<void> {
  const { db, drop } = await freshDatabase();
  try {
    const metering = createMetering(db, { latenessMs: 400 * DAY });
    for (const [key, aggregation] of [
      ['api_calls', 'count'],
      ['tokens', 'sum'],
      ['active_users', 'unique_count'],
    ] as const)
      await metering.createMeter({ key, name: key, aggregation });
    const accountId = 'acct_big';
    const now = Date.now();
    const batches = Math.ceil(HISTORY / BATCH);
    const started = performance.now();
    // The history goes through the same ingestion path, spread over the last 29 days: one period's worth.
    await pool(batches, CONCURRENCY, async (b) => {
      await metering.ingest(
        accountId,
        Array.from({ length: BATCH }, (_, i) => ({
          transactionId: `h-${b}-${i}`,
          meter: METERS[i % 3],
          value: 1 + (i % 100),
          uniqueKey: `user_${(b * 7 + i) % 5000}`,
          timestamp: new Date(now - Math.floor(((b * BATCH + i) / (batches * BATCH)) * 29 * DAY)),
        })),
        { lateness: false },
      );
    });
    const loadS = (performance.now() - started) / 1000;
    // A 30-day period holding the whole history (periods are whole UTC days).
    const end = new Date(Math.floor(now / DAY) * DAY + DAY);
    const period = { start: new Date(end.getTime() - 30 * DAY), end };
    const time = async (reads: number, fn: () => Promise<unknown>) => {
      const times: number[] = [];
      for (let i = 0; i < reads; i++) {
        const t = performance.now();
        await fn();
        times.push(performance.now() - t);
      }
      return times.sort((a, b) => a - b);
    };
    const agg = await time(READS, () => metering.usage(accountId, period.start, period.end));
    // The baseline gets the index its design would have, and fewer reads (each scans the period).
    await db.exec('CREATE INDEX bench_events_by_time ON billing_events (account_id, occurred_at)');
    const raw = await time(Math.min(READS, RAW_READS), () =>
      db.query(
        `SELECT meter_id, count(*), sum(value), count(DISTINCT unique_key) FROM billing_events
          WHERE account_id = $1 AND occurred_at >= $2 AND occurred_at < $3 GROUP BY meter_id`,
        [accountId, period.start.toISOString(), period.end.toISOString()],
        'bench_raw_usage',
      ),
    );
    const inPeriod = await db.one<{ n: number }>(
      'SELECT count(*)::bigint AS n FROM billing_events WHERE account_id = $1 AND occurred_at >= $2',
      [accountId, period.start.toISOString()],
    );
    console.log(
      `usage read: one account with ${batches * BATCH} events in one 30-day period (loaded in ${loadS.toFixed(0)} s through ingest), ` +
        `${inPeriod.n} in the current period, ${READS} reads (${Math.min(READS, RAW_READS)} of the baseline)`,
    );
    console.log(
      `  daily aggregates (the route)   p50 ${pct(agg, 50).toFixed(2)} ms  p99 ${pct(agg, 99).toFixed(2)} ms`,
    );
    console.log(
      `  sum of raw events (baseline)   p50 ${pct(raw, 50).toFixed(2)} ms  p99 ${pct(raw, 99).toFixed(2)} ms`,
    );
    console.log(
      `  p99 ratio: aggregates take ${(pct(agg, 99) / pct(raw, 99)).toFixed(3)}x the raw scan's time`,
    );
  } finally {
    await drop();
  }
}

await ingestion();
await reads();
