import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import type { Db } from '../db/index.ts';
import { PlazaError } from '../errors.ts';
import { newId } from '../ids.ts';
import type { Logger } from '../logger.ts';
import {
  backoffMs,
  DEFAULT_STOP_TIMEOUT_MS,
  errorMessage,
  resolveAttempts,
  settlesWithin,
} from './common.ts';
import type { FailedJob, JobDefinition, JobInfo, JobQueue } from './types.ts';

export interface PostgresQueueOptions {
  db: Db;
  log: Logger;
  /** How often to look for due jobs when nothing wakes the runner earlier. */
  pollMs: number;
  /** How long a claimed job stays ours without renewal; renewed every leaseMs/3 while it runs. */
  leaseMs: number;
  /** Written to `locked_by`; must be unique among running instances (default host/pid/random). */
  workerId?: string;
}

/** NOTIFY channel: its payload is the job name, so workers in other processes wake at once. */
const CHANNEL = 'plaza_jobs';

interface ClaimedRow {
  id: string;
  name: string;
  data: unknown;
  attempts: number;
  max_attempts: number;
}

/** `now() + $n ms`, computed by the database so that every worker shares one clock. */
const msFromNow = (param: string) => `now() + ${param}::double precision * interval '1 millisecond'`;

/**
 * The job runner on PostgreSQL (or PGlite). A job is a row of `jobs`:
 * workers claim due rows with `FOR UPDATE SKIP LOCKED`, hold them under a
 * lease (`locked_until`) renewed while the handler runs, and delete them on
 * success. A row whose lease expired (its worker died) is claimable again and
 * that try counts as an attempt, so a job that keeps killing its worker ends
 * up failed instead of looping.
 */
export function createPostgresQueue(opts: PostgresQueueOptions): JobQueue {
  const { db, pollMs, leaseMs } = opts;
  const log = opts.log.child({ module: 'jobs', adapter: 'postgres' });
  const workerId = opts.workerId ?? `${os.hostname()}/${process.pid}/${randomBytes(4).toString('hex')}`;

  const defs = new Map<string, JobDefinition>();
  /** Jobs whose handler is running here, by id. */
  const running = new Map<string, Promise<void>>();
  /** Running jobs per name, for the concurrency limit. */
  const busy = new Map<string, number>();
  /** Jobs we believe we still hold the lease of (renewed); a subset of `running`. */
  const held = new Set<string>();
  let started = false;
  let stopped = false;
  /** Recurring jobs: name -> interval (ms). */
  const repeats = new Map<string, number>();

  // --- the poll loop: one timer, woken early by enqueues, freed slots, NOTIFY ---
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Number.POSITIVE_INFINITY;
  let polling: Promise<void> | undefined;
  let pollAgain = false;
  let renewTimer: NodeJS.Timeout | undefined;

  /** Polls in `ms` unless a poll is already due sooner. */
  function schedule(ms: number): void {
    if (!started || stopped) return;
    const at = Date.now() + ms;
    if (timer && timerAt <= at) return;
    clearTimeout(timer);
    timerAt = at;
    timer = setTimeout(() => {
      timer = undefined;
      timerAt = Number.POSITIVE_INFINITY;
      tick();
    }, ms);
  }
  const wake = () => schedule(0);

  function tick(): void {
    // Polls never overlap: a wake during a poll runs one more right after it.
    if (polling) {
      pollAgain = true;
      return;
    }
    polling = poll()
      .catch((err) => log.error({ err }, 'job poll failed'))
      .finally(() => {
        polling = undefined;
        if (pollAgain) {
          pollAgain = false;
          wake();
        } else schedule(pollMs);
      });
  }

  async function poll(): Promise<void> {
    if (db.pool && !listener) void listen();
    if (repeats.size) await enqueueDueRepeats();
    const free = [...defs.values()].filter((d) => slots(d) > 0).map((d) => d.name);
    if (!free.length) return;
    // One cheap query while idle; claims only for names that have something due.
    const due = await db.query<{ name: string; lost: boolean }>(
      `SELECT name, bool_or(state = 'active' AND attempts >= max_attempts) AS lost
         FROM jobs
        WHERE name = ANY($1::text[])
          AND ((state = 'waiting' AND run_at <= now()) OR (state = 'active' AND locked_until < now()))
        GROUP BY name`,
      [free],
    );
    for (const { name, lost } of due) {
      if (stopped) return;
      if (lost) await failLost(name);
      await claim(defs.get(name)!);
    }
  }

  /**
   * One statement moves each due schedule forward and returns it, so across all
   * worker processes exactly one enqueues the run of that interval.
   */
  async function enqueueDueRepeats(): Promise<void> {
    const due = await db.query<{ name: string }>(
      `UPDATE job_schedules SET next_run_at = now() + every_ms * interval '1 millisecond'
        WHERE name = ANY($1::text[]) AND next_run_at <= now() RETURNING name`,
      [[...repeats.keys()]],
    );
    for (const { name } of due) await queue.enqueue(name, null, { jobId: 'repeat' });
  }

  const slots = (def: JobDefinition) => (def.concurrency ?? 1) - (busy.get(def.name) ?? 0);

  /** Jobs whose worker died during their last allowed try: fail them rather than run them again. */
  async function failLost(name: string): Promise<void> {
    const rows = await db.query<{ id: string }>(
      `UPDATE jobs
          SET state = 'failed', finished_at = now(), locked_by = NULL, locked_until = NULL,
              last_error = 'worker stopped responding during the last try'
                || coalesce(' (previous error: ' || last_error || ')', '')
        WHERE name = $1 AND state = 'active' AND locked_until < now() AND attempts >= max_attempts
        RETURNING id`,
      [name],
    );
    for (const { id } of rows)
      log.error({ jobId: id, job: name }, 'job failed: its worker died on the last try');
  }

  async function claim(def: JobDefinition): Promise<void> {
    const n = slots(def);
    if (n <= 0) return;
    const rows = await db.query<ClaimedRow>(
      `UPDATE jobs
          SET state = 'active', attempts = attempts + 1, locked_by = $2, locked_until = ${msFromNow('$3')}
        WHERE id IN (
          SELECT id FROM jobs
           WHERE name = $1
             AND ((state = 'waiting' AND run_at <= now())
               OR (state = 'active' AND locked_until < now() AND attempts < max_attempts))
           ORDER BY run_at, id
           LIMIT $4
           FOR UPDATE SKIP LOCKED)
        RETURNING id, name, data, attempts, max_attempts`,
      [def.name, workerId, leaseMs, n],
    );
    for (const row of rows) launch(def, row);
  }

  function launch(def: JobDefinition, row: ClaimedRow): void {
    busy.set(def.name, (busy.get(def.name) ?? 0) + 1);
    held.add(row.id);
    const done = execute(def, row).finally(() => {
      running.delete(row.id);
      held.delete(row.id);
      busy.set(def.name, (busy.get(def.name) ?? 1) - 1);
      wake(); // a slot is free: take the next due job now, not at the next poll
    });
    running.set(row.id, done);
  }

  /** Runs the handler and records the outcome; never rejects. */
  async function execute(def: JobDefinition, row: ClaimedRow): Promise<void> {
    const info: JobInfo = {
      id: row.id,
      name: row.name,
      attempt: row.attempts,
      maxAttempts: row.max_attempts,
    };
    let failure: { err: unknown } | undefined;
    try {
      await def.handler(row.data, info);
    } catch (err) {
      failure = { err };
    }
    try {
      const recorded = failure ? await recordFailure(def, row, failure.err) : await recordSuccess(row);
      // Not ours any more: stop() released it or the lease expired and another worker took it.
      if (!recorded && held.has(row.id))
        log.warn({ jobId: row.id, job: row.name }, 'job finished after its lease was lost; it may run again');
    } catch (err) {
      // The lease will expire and the job run again: delivery is at least once.
      log.error({ err, jobId: row.id, job: row.name }, 'could not record the outcome of a job');
    }
  }

  async function recordSuccess(row: ClaimedRow): Promise<boolean> {
    const gone = await db.query(
      `DELETE FROM jobs WHERE id = $1 AND locked_by = $2 AND state = 'active' RETURNING id`,
      [row.id, workerId],
    );
    return gone.length > 0;
  }

  async function recordFailure(def: JobDefinition, row: ClaimedRow, err: unknown): Promise<boolean> {
    const message = errorMessage(err);
    const ctx = { err, jobId: row.id, job: row.name, attempt: row.attempts, maxAttempts: row.max_attempts };
    if (row.attempts < row.max_attempts) {
      const delay = backoffMs(def, row.attempts);
      const rows = await db.query(
        `UPDATE jobs SET state = 'waiting', run_at = ${msFromNow('$3')}, last_error = $4, locked_by = NULL, locked_until = NULL
          WHERE id = $1 AND locked_by = $2 AND state = 'active' RETURNING id`,
        [row.id, workerId, delay, message],
      );
      if (rows.length) {
        log.warn({ ...ctx, retryInMs: delay }, 'job failed; will retry');
        schedule(delay);
      }
      return rows.length > 0;
    }
    const rows = await db.query(
      `UPDATE jobs SET state = 'failed', finished_at = now(), last_error = $3, locked_by = NULL, locked_until = NULL
        WHERE id = $1 AND locked_by = $2 AND state = 'active' RETURNING id`,
      [row.id, workerId, message],
    );
    if (rows.length) log.error(ctx, 'job failed after its last try');
    return rows.length > 0;
  }

  /** Extends the lease of every job running here; a lease found lost is reported once. */
  async function renew(): Promise<void> {
    const ids = [...held];
    if (!ids.length) return;
    const kept = await db.query<{ id: string }>(
      `UPDATE jobs SET locked_until = ${msFromNow('$3')}
        WHERE id = ANY($1::text[]) AND locked_by = $2 AND state = 'active' RETURNING id`,
      [ids, workerId, leaseMs],
    );
    if (kept.length === ids.length) return;
    const keptIds = new Set(kept.map((r) => r.id));
    for (const id of ids.filter((i) => !keptIds.has(i))) {
      held.delete(id);
      log.warn(
        { jobId: id },
        'lost the lease of a running job (renewed too late); another worker may run it',
      );
    }
  }

  // --- LISTEN on real PostgreSQL: enqueues in other processes wake this one ---
  // A connection of its own, outside the pool, so that it never takes a pooled one for good.
  let listener: pg.Client | undefined;
  let listening = false;
  /** After a failure, try again no sooner than this (polling covers the gap). */
  let listenRetryAt = 0;
  const LISTEN_RETRY_MS = 30_000;

  async function listen(): Promise<void> {
    if (!db.pool || listener || listening || stopped || Date.now() < listenRetryAt) return;
    listening = true;
    const client = new pg.Client(db.pool.options);
    client.on('notification', (msg) => {
      if (!msg.payload || defs.has(msg.payload)) wake();
    });
    client.on('error', (err) => {
      log.warn({ err }, 'job LISTEN connection failed; polling until it is back');
      if (listener === client) listener = undefined;
      listenRetryAt = Date.now() + LISTEN_RETRY_MS;
      client.end().catch(() => {});
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
      if (stopped) await client.end();
      else listener = client;
    } catch (err) {
      listenRetryAt = Date.now() + LISTEN_RETRY_MS;
      client.end().catch(() => {});
      log.warn({ err }, 'could not LISTEN for jobs; relying on polling');
    } finally {
      listening = false;
    }
  }

  async function unlisten(): Promise<void> {
    const c = listener;
    listener = undefined;
    await c?.end().catch(() => {});
  }

  const queue: JobQueue = {
    kind: 'postgres',

    define(def) {
      if (started) throw new Error(`job "${def.name}" defined after start()`);
      if (defs.has(def.name)) throw new Error(`job "${def.name}" is defined twice`);
      defs.set(def.name, def as JobDefinition);
    },

    async enqueue(name, data, o = {}) {
      const key = o.jobId ?? null;
      const delay = Math.max(0, o.delayMs ?? 0);
      // A key names one piece of work: enqueueing it again supersedes a failed try of it.
      if (key !== null)
        await db.query(`DELETE FROM jobs WHERE name = $1 AND job_key = $2 AND state = 'failed'`, [name, key]);
      for (let i = 0; i < 3; i++) {
        const inserted = await db.maybeOne<{ id: string }>(
          `WITH ins AS (
             INSERT INTO jobs (id, name, data, max_attempts, job_key, run_at)
             VALUES ($1, $2, $3::jsonb, $4, $5, ${msFromNow('$6')})
             ON CONFLICT (name, job_key) WHERE state IN ('waiting', 'active') DO NOTHING
             RETURNING id)
           SELECT id, pg_notify('${CHANNEL}', $2)::text AS notified FROM ins`,
          [newId('job'), name, JSON.stringify(data ?? null), resolveAttempts(defs.get(name), o), key, delay],
        );
        if (inserted) {
          schedule(delay);
          return inserted.id;
        }
        const pending = await db.maybeOne<{ id: string }>(
          `SELECT id FROM jobs WHERE name = $1 AND job_key = $2 AND state IN ('waiting', 'active')`,
          [name, key],
        );
        if (pending) return pending.id;
        // The duplicate finished between the two statements: insert again.
      }
      throw new Error(`could not enqueue job "${name}" with key ${key}`);
    },

    repeat(name, everyMs) {
      if (started) throw new Error(`job "${name}" made recurring after start()`);
      repeats.set(name, everyMs);
    },

    async start() {
      if (started || stopped) return;
      started = true;
      for (const [name, everyMs] of repeats)
        await db.query(
          `INSERT INTO job_schedules (name, every_ms, next_run_at) VALUES ($1, $2, now())
           ON CONFLICT (name) DO UPDATE SET every_ms = excluded.every_ms`,
          [name, everyMs],
        );
      await listen();
      renewTimer = setInterval(
        () => {
          renew().catch((err) => log.error({ err }, 'could not renew job leases'));
        },
        Math.max(50, Math.floor(leaseMs / 3)),
      );
      wake();
    },

    async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS) {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      try {
        if (!started) return;
        await polling; // a claim in flight adds to `running` before we look at it
        if (running.size && !(await settlesWithin(Promise.all(running.values()), timeoutMs))) {
          // Give the unfinished jobs back without burning a try; their handlers' late
          // outcomes are ignored because the rows no longer name this worker.
          const ids = [...running.keys()];
          for (const id of ids) held.delete(id);
          const released = await db.query<{ id: string }>(
            `UPDATE jobs SET state = 'waiting', attempts = attempts - 1, run_at = now(), locked_by = NULL, locked_until = NULL
              WHERE id = ANY($1::text[]) AND locked_by = $2 AND state = 'active' RETURNING id`,
            [ids, workerId],
          );
          if (db.pool) await db.query(`SELECT pg_notify('${CHANNEL}', '')`);
          log.warn(
            { jobIds: released.map((r) => r.id) },
            'stop timed out; released unfinished jobs to other workers',
          );
        }
      } finally {
        // Even if the release failed: unrenewed leases expire and other workers take the jobs.
        clearInterval(renewTimer);
        await unlisten();
      }
    },

    async counts() {
      const rows = await db.query<{ name: string; waiting: number; active: number; failed: number }>(
        `SELECT name, count(*) FILTER (WHERE state = 'waiting')::int AS waiting,
                count(*) FILTER (WHERE state = 'active')::int AS active,
                count(*) FILTER (WHERE state = 'failed')::int AS failed
         FROM jobs GROUP BY name ORDER BY name`,
      );
      return rows;
    },

    async failed(name, limit = 50) {
      const rows = await db.query<{
        id: string;
        name: string;
        data: unknown;
        attempts: number;
        last_error: string | null;
        finished_at: Date;
      }>(
        `SELECT id, name, data, attempts, last_error, finished_at FROM jobs
          WHERE state = 'failed' AND ($1::text IS NULL OR name = $1)
          ORDER BY finished_at DESC, id DESC LIMIT $2`,
        [name ?? null, limit],
      );
      return rows.map(
        (r): FailedJob => ({
          id: r.id,
          name: r.name,
          data: r.data,
          attempts: r.attempts,
          error: r.last_error ?? '',
          failedAt: new Date(r.finished_at),
        }),
      );
    },

    async retryFailed(id) {
      let row: { id: string } | undefined;
      try {
        row = await db.maybeOne(
          `UPDATE jobs SET state = 'waiting', attempts = 0, run_at = now(), finished_at = NULL
            WHERE id = $1 AND state = 'failed' RETURNING id`,
          [id],
        );
      } catch (err) {
        if ((err as { code?: string }).code === '23505')
          throw new PlazaError(
            'PLAZA_CONFLICT',
            `a job with the same key as ${id} is already waiting or running`,
          );
        throw err;
      }
      if (!row) throw new PlazaError('PLAZA_NOT_FOUND', `no failed job ${id}`);
      wake();
    },

    async ping() {
      await db.query('SELECT 1');
    },
  };
  return queue;
}
