import { type Job, Queue, WaitingError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
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

export interface BullmqQueueOptions {
  redisUrl: string;
  /** Prefix of every Redis key (default `plaza`); tests isolate themselves with a unique one. */
  prefix?: string;
  log: Logger;
  /**
   * Lock duration of a running job (renewed at half of it) and the interval of
   * the stalled-job check, so a job whose worker died runs again after about
   * two to three leases (default 30000).
   */
  leaseMs?: number;
  /**
   * How many times a job may be recovered after its worker died before it is
   * failed, so that a job that kills its worker does not loop (default 2).
   */
  maxStalledCount?: number;
}

/** Name of the backoff strategy implementing the port's formula (BullMQ's own has no cap). */
const BACKOFF = 'plaza';

/** BullMQ splits keys on ':', so queue names and custom job ids must not contain one. */
const encode = (s: string) => s.replaceAll('%', '%25').replaceAll(':', '%3A');
/** Prefixed as well, because BullMQ also rejects custom ids that look like integers. */
const bullJobId = (key: string) => `key_${encode(key)}`;

interface Running {
  job: Job;
  token: string;
  /** Makes the processor give up on the handler (it keeps running, its outcome is ignored). */
  abandon(err: Error): void;
}

/**
 * The job queue on BullMQ: one BullMQ queue per job name (so each name gets
 * its own Worker and thus its own concurrency). Enqueueing never needs the
 * worker side; the queues share one Redis connection, each Worker has its own.
 * Completed jobs are removed at once (so a job id can be used again, as on
 * PostgreSQL); failed ones are kept as the failed list.
 */
export function createBullmqQueue(opts: BullmqQueueOptions): JobQueue {
  const prefix = opts.prefix ?? 'plaza';
  const leaseMs = opts.leaseMs ?? 30_000;
  const log = opts.log.child({ module: 'jobs', adapter: 'bullmq' });
  const connection = new Redis(opts.redisUrl);
  connection.on('error', (err) => log.warn({ err }, 'redis connection error'));

  const defs = new Map<string, JobDefinition>();
  const queues = new Map<string, Queue>();
  const workers = new Map<string, Worker>();
  const running = new Map<string, Running>();
  let started = false;
  let stopped = false;
  const repeats = new Map<string, number>();

  function queueFor(name: string): Queue {
    let queue = queues.get(name);
    if (!queue) {
      queue = new Queue(encode(name), { connection, prefix });
      queue.on('error', (err) => log.warn({ err, job: name }, 'bullmq queue error'));
      queues.set(name, queue);
    }
    return queue;
  }

  function workerFor(def: JobDefinition): Worker {
    const worker = new Worker(
      encode(def.name),
      async (job: Job, token?: string) => {
        const info: JobInfo = {
          id: job.id!,
          name: def.name,
          // BullMQ counts failed tries; a try whose worker died is limited by maxStalledCount instead.
          attempt: job.attemptsMade + 1,
          maxAttempts: job.opts.attempts ?? 1,
        };
        const key = `${job.id}/${token}`;
        const abandoned = new Promise<never>((_, reject) => {
          running.set(key, { job, token: token!, abandon: reject });
        });
        try {
          await Promise.race([Promise.resolve().then(() => def.handler(job.data, info)), abandoned]);
        } catch (err) {
          if (err instanceof WaitingError) throw err; // released by stop(): BullMQ leaves the job alone
          const last = info.attempt >= info.maxAttempts;
          log[last ? 'error' : 'warn'](
            { err, jobId: job.id, job: def.name, attempt: info.attempt, maxAttempts: info.maxAttempts },
            last ? 'job failed after its last try' : 'job failed; will retry',
          );
          throw err instanceof Error ? err : new Error(errorMessage(err));
        } finally {
          running.delete(key);
        }
      },
      {
        connection: { url: opts.redisUrl, maxRetriesPerRequest: null },
        prefix,
        concurrency: def.concurrency ?? 1,
        lockDuration: leaseMs,
        stalledInterval: leaseMs,
        maxStalledCount: opts.maxStalledCount ?? 2,
        settings: { backoffStrategy: (attemptsMade: number) => backoffMs(def, attemptsMade) },
      },
    );
    worker.on('error', (err) => log.warn({ err, job: def.name }, 'bullmq worker error'));
    return worker;
  }

  return {
    kind: 'bullmq',

    define(def) {
      if (started) throw new Error(`job "${def.name}" defined after start()`);
      if (defs.has(def.name)) throw new Error(`job "${def.name}" is defined twice`);
      defs.set(def.name, def as JobDefinition);
    },

    async enqueue(name, data, o = {}) {
      const queue = queueFor(name);
      const jobId = o.jobId === undefined ? newId('job') : bullJobId(o.jobId);
      if (o.jobId !== undefined) {
        // A failed job keeps its id; enqueueing the same key again supersedes it (as on PostgreSQL).
        const previous = await queue.getJob(jobId);
        if (previous && (await previous.isFailed())) await previous.remove();
      }
      const job = await queue.add(name, data ?? null, {
        jobId,
        attempts: resolveAttempts(defs.get(name), o),
        backoff: { type: BACKOFF },
        delay: Math.max(0, o.delayMs ?? 0),
        removeOnComplete: true,
        removeOnFail: false,
      });
      return job.id!;
    },

    repeat(name, everyMs) {
      if (started) throw new Error(`job "${name}" made recurring after start()`);
      repeats.set(name, everyMs);
    },

    async start() {
      if (started || stopped) return;
      started = true;
      // BullMQ's job schedulers: one per name in Redis, whichever process upserts it.
      for (const [name, every] of repeats)
        await queueFor(name).upsertJobScheduler(
          'repeat',
          { every },
          {
            name,
            data: null,
            opts: {
              attempts: resolveAttempts(defs.get(name), {}),
              backoff: { type: BACKOFF },
              removeOnComplete: true,
              removeOnFail: 100,
            },
          },
        );
      for (const def of defs.values()) workers.set(def.name, workerFor(def));
      await Promise.all([...workers.values()].map((w) => w.waitUntilReady()));
    },

    async stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS) {
      if (stopped) return;
      stopped = true;
      // close() stops fetching and waits for the running jobs before it closes the connections.
      const closing = Promise.all([...workers.values()].map((w) => w.close()));
      if (!(await settlesWithin(closing, timeoutMs))) {
        // Put the unfinished jobs back in the wait list now (no try used, no stall counted),
        // then let their processors return so that close() can finish.
        const ids: string[] = [];
        for (const run of running.values()) {
          try {
            await run.job.moveToWait(run.token);
            ids.push(run.job.id!);
          } catch (err) {
            // Lock already gone: the stalled check of another worker will requeue it.
            log.warn({ err, jobId: run.job.id }, 'could not release a running job');
          }
          run.abandon(new WaitingError());
        }
        log.warn({ jobIds: ids }, 'stop timed out; released unfinished jobs to other workers');
      }
      await closing.catch((err) => log.warn({ err }, 'error while closing workers'));
      await Promise.all([...queues.values()].map((q) => q.close()));
      await connection.quit().catch(() => connection.disconnect());
    },

    async counts() {
      // Only queues this process knows, like `failed`.
      const names = [...new Set([...defs.keys(), ...queues.keys()])].sort();
      return Promise.all(
        names.map(async (name) => {
          const c = await queueFor(name).getJobCounts(
            'waiting',
            'delayed',
            'prioritized',
            'active',
            'failed',
          );
          return {
            name,
            waiting: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0),
            active: c.active ?? 0,
            failed: c.failed ?? 0,
          };
        }),
      );
    },

    async failed(name, limit = 50) {
      // Only queues this process knows (defined or enqueued to): BullMQ has no list of queues.
      const names = name ? [name] : [...new Set([...defs.keys(), ...queues.keys()])];
      const lists = await Promise.all(names.map((n) => queueFor(n).getFailed(0, limit - 1)));
      return lists
        .flat()
        .sort((a, b) => (b.finishedOn ?? 0) - (a.finishedOn ?? 0))
        .slice(0, limit)
        .map(
          (job): FailedJob => ({
            id: job.id!,
            name: job.name,
            data: job.data,
            attempts: job.attemptsMade,
            error: job.failedReason ?? '',
            failedAt: new Date(job.finishedOn ?? job.timestamp),
          }),
        );
    },

    async retryFailed(id) {
      for (const name of new Set([...defs.keys(), ...queues.keys()])) {
        const job = await queueFor(name).getJob(id);
        if (job && (await job.isFailed())) {
          await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
          return;
        }
      }
      throw new PlazaError('PLAZA_NOT_FOUND', `no failed job ${id}`);
    },

    async ping() {
      await connection.ping();
    },
  };
}
