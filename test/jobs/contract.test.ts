import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Db, openPglite } from '../../server/db/index.ts';
import { runMigrations } from '../../server/db/migrate.ts';
import { createBullmqQueue } from '../../server/jobs/bullmq.ts';
import { backoffMs } from '../../server/jobs/common.ts';
import { createJobQueue } from '../../server/jobs/index.ts';
import { createPostgresQueue } from '../../server/jobs/postgres.ts';
import type { JobInfo, JobQueue } from '../../server/jobs/types.ts';
import { createLogger } from '../../server/logger.ts';
import { createTestDatabase, REDIS_URL, type TestDatabase } from '../helpers/db.ts';
import { deleteRedisPrefix } from '../helpers/redis.ts';

/**
 * One contract for both JobQueue adapters: BullMQ on real Redis, the
 * PostgreSQL runner on real PostgreSQL and on PGlite. Tests assert what
 * happened and in which order, never how long it took; the waits below are
 * upper bounds that only fail a stuck test.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const log = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
const prefix = `plaza-test-${randomBytes(4).toString('hex')}`;
let tdb: TestDatabase;
let lite: Db;

beforeAll(async () => {
  tdb = await createTestDatabase();
  // The kill test's record of which worker started a job: it must outlive the killed process.
  await tdb.db.exec(`CREATE TABLE job_runs (
    job_id text NOT NULL, worker text NOT NULL, attempt int NOT NULL, finished boolean NOT NULL DEFAULT false)`);
  lite = await openPglite();
  await runMigrations(lite, [{ owner: 'jobs', dir: path.join(here, '../../server/jobs/migrations') }]);
});

afterAll(async () => {
  await lite?.close();
  await tdb?.drop();
  await deleteRedisPrefix(prefix);
});

interface Adapter {
  label: string;
  kind: 'postgres' | 'bullmq';
  make(leaseMs?: number): JobQueue;
  /** The kill test needs a store another process can reach (not the in-memory PGlite). */
  killable: boolean;
}

const adapters: Adapter[] = [
  {
    label: 'postgres',
    kind: 'postgres',
    make: (leaseMs = 2000) => createPostgresQueue({ db: tdb.db, log, pollMs: 100, leaseMs }),
    killable: true,
  },
  {
    label: 'postgres on pglite',
    kind: 'postgres',
    make: (leaseMs = 2000) => createPostgresQueue({ db: lite, log, pollMs: 100, leaseMs }),
    killable: false,
  },
  {
    label: 'bullmq',
    kind: 'bullmq',
    make: (leaseMs = 2000) => createBullmqQueue({ redisUrl: REDIS_URL, prefix, log, leaseMs }),
    killable: true,
  },
];

async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  timeoutMs = 15_000,
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A promise the test resolves by hand, to hold handlers inside a job. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

let seq = 0;
const uniqueName = (what: string) => `${what}.${++seq}.${randomBytes(2).toString('hex')}`;

describe('backoff formula', () => {
  it('doubles from baseMs and stops at maxMs', () => {
    const def = { name: 'x', handler: async () => {}, backoff: { baseMs: 100, maxMs: 350 } };
    expect([1, 2, 3, 4].map((a) => backoffMs(def, a))).toEqual([100, 200, 350, 350]);
    expect(backoffMs({ name: 'y', handler: async () => {} }, 1)).toBe(1000);
  });
});

describe('createJobQueue', () => {
  it('picks BullMQ when REDIS_URL is set, else the PostgreSQL runner', async () => {
    const config = {
      redisUrl: undefined as string | undefined,
      redisPrefix: `plaza-test-${process.pid}`,
      jobsPollMs: 100,
      jobsLeaseMs: 1000,
    };
    const onPostgres = await createJobQueue({ config, db: lite, log });
    const onRedis = await createJobQueue({ config: { ...config, redisUrl: REDIS_URL }, db: lite, log });
    expect([onPostgres.kind, onRedis.kind]).toEqual(['postgres', 'bullmq']);
    await Promise.all([onPostgres.ping(), onRedis.ping()]);
    await Promise.all([onPostgres.stop(), onRedis.stop()]);
  });
});

describe.each(adapters)('JobQueue contract: $label', (adapter) => {
  const open: JobQueue[] = [];
  const queue = (leaseMs?: number) => {
    const q = adapter.make(leaseMs);
    open.push(q);
    return q;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map((q) => q.stop(100)));
  });

  it('runs jobs enqueued before and after start, with their data', async () => {
    const q = queue();
    const name = uniqueName('run');
    const runs: Array<{ data: unknown; job: JobInfo }> = [];
    q.define({ name, handler: async (data, job) => void runs.push({ data, job }) });
    expect(q.kind).toBe(adapter.kind);
    await q.ping();
    const data = { n: 1.5, s: 'héllo', flag: true, none: null, nested: { list: [1, 'two', { three: 3 }] } };
    const first = await q.enqueue(name, data);
    await q.start();
    const second = await q.enqueue(name, 'just a string');
    await waitFor('both jobs', () => runs.length === 2);
    expect(runs.map((r) => r.data)).toEqual([data, 'just a string']);
    expect(runs.map((r) => r.job)).toEqual([
      { id: first, name, attempt: 1, maxAttempts: 3 },
      { id: second, name, attempt: 1, maxAttempts: 3 },
    ]);
    expect(await q.failed(name)).toEqual([]);
  });

  it('runs a recurring job again and again, once per interval across two workers', async () => {
    const name = uniqueName('tick');
    const runs: number[] = [];
    const workers = [queue(), queue()];
    for (const q of workers) {
      q.define({ name, handler: async () => void runs.push(performance.now()) });
      q.repeat(name, 400);
      expect(() => q.repeat(name, 400)).not.toThrow();
    }
    for (const q of workers) await q.start();
    await waitFor('four runs', () => runs.length >= 4);
    // Two workers firing the same interval would run it twice within a few ms.
    const gaps = runs.slice(1, 4).map((t, i) => t - runs[i]);
    for (const gap of gaps) expect(gap).toBeGreaterThan(100);
    expect(() => workers[0].repeat(name, 400)).toThrow(/after start/);
  });

  it('does not run a delayed job before its time, and runs it after', async () => {
    const q = queue();
    const name = uniqueName('delay');
    const ran: string[] = [];
    q.define({ name, concurrency: 2, handler: async (data: string) => void ran.push(data) });
    await q.start();
    await q.enqueue(name, 'later', { delayMs: 1500 });
    await q.enqueue(name, 'now');
    await waitFor('the immediate job', () => ran.includes('now'));
    expect(ran).toEqual(['now']);
    await waitFor('the delayed job', () => ran.includes('later'));
    expect(ran).toEqual(['now', 'later']);
  });

  it('retries a failing job with backoff until it succeeds', async () => {
    const q = queue();
    const name = uniqueName('retry');
    const attempts: number[] = [];
    let succeeded = false;
    q.define({
      name,
      attempts: 3,
      backoff: { baseMs: 50 },
      async handler(_data, job) {
        attempts.push(job.attempt);
        if (job.attempt < 3) throw new Error(`flaky ${job.attempt}`);
        succeeded = true;
      },
    });
    await q.start();
    await q.enqueue(name, {});
    await waitFor('success', () => succeeded);
    expect(attempts).toEqual([1, 2, 3]);
    expect(await q.failed(name)).toEqual([]);
  });

  it('lists a job that used all its tries as failed, and retryFailed runs it again', async () => {
    const q = queue();
    const name = uniqueName('fail');
    const attempts: number[] = [];
    let fixed = false;
    let done = 0;
    q.define({
      name,
      backoff: { baseMs: 20 },
      async handler(_data, job) {
        attempts.push(job.attempt);
        if (!fixed) throw new Error(`boom on try ${job.attempt}`);
        done++;
      },
    });
    await q.start();
    const id = await q.enqueue(name, { invoice: 7 }, { attempts: 2 });
    const [failed] = await waitFor('the failed job', async () => {
      const list = await q.failed(name);
      return list.length ? list : undefined;
    });
    expect(failed).toMatchObject({ id, name, data: { invoice: 7 }, attempts: 2, error: 'boom on try 2' });
    expect(failed.failedAt).toBeInstanceOf(Date);
    expect(attempts).toEqual([1, 2]);
    expect((await q.failed()).map((f) => f.id)).toContain(id);
    // The counts per name (the operator's dashboard) see it, and a job waiting for later.
    await q.enqueue(name, { invoice: 8 }, { delayMs: 60_000 });
    expect((await q.counts()).find((c) => c.name === name)).toEqual({
      name,
      waiting: 1,
      active: 0,
      failed: 1,
    });

    fixed = true;
    await q.retryFailed(id);
    await waitFor('the retried job', () => done === 1);
    expect(attempts).toEqual([1, 2, 1]);
    expect((await q.counts()).find((c) => c.name === name)).toMatchObject({ failed: 0 });
    expect(await q.failed(name)).toEqual([]);
    await expect(q.retryFailed(id)).rejects.toMatchObject({ code: 'PLAZA_NOT_FOUND' });
  });

  it('deduplicates by jobId while a job is waiting or running, not after it finished', async () => {
    const q = queue();
    const name = uniqueName('dedup');
    const ran: string[] = [];
    const hold = gate();
    q.define({
      name,
      async handler(data: string) {
        ran.push(data);
        if (data === 'slow') await hold.opened;
      },
    });
    // Waiting: a second enqueue with the same key (':' included on purpose) is a no-op.
    const a = await q.enqueue(name, 'a', { jobId: 'invoice:42' });
    expect(await q.enqueue(name, 'a again', { jobId: 'invoice:42' })).toBe(a);
    expect(await q.enqueue(name, 'b', { jobId: 'invoice:43' })).not.toBe(a);
    const slow = await q.enqueue(name, 'slow', { jobId: 'slow' });
    await q.start();
    // Running: same.
    await waitFor('the slow job to start', () => ran.includes('slow'));
    expect(await q.enqueue(name, 'slow again', { jobId: 'slow' })).toBe(slow);
    hold.open();
    await q.enqueue(name, 'sentinel');
    await waitFor('the sentinel', () => ran.includes('sentinel'));
    expect(ran).toEqual(['a', 'b', 'slow', 'sentinel']);
    // Finished: the key is free again.
    await q.enqueue(name, 'a once more', { jobId: 'invoice:42' });
    await waitFor('the re-enqueued job', () => ran.includes('a once more'));
  });

  it('never runs more handlers of one name at once than its concurrency', async () => {
    const q = queue();
    const name = uniqueName('conc');
    let current = 0;
    let max = 0;
    let finished = 0;
    const hold = gate();
    q.define({
      name,
      concurrency: 2,
      async handler() {
        current++;
        max = Math.max(max, current);
        await hold.opened;
        current--;
        finished++;
      },
    });
    for (let i = 0; i < 6; i++) await q.enqueue(name, i);
    await q.start();
    await waitFor('two running handlers', () => current === 2);
    // Give a third handler every chance to start (it must not).
    await sleep(400);
    expect(current).toBe(2);
    hold.open();
    await waitFor('all six jobs', () => finished === 6);
    expect(max).toBe(2);
  });

  it('stop() lets a running job finish and it does not run again', async () => {
    const q = queue();
    const name = uniqueName('graceful');
    const events: string[] = [];
    q.define({
      name,
      async handler() {
        events.push('start');
        await sleep(300);
        events.push('end');
      },
    });
    await q.start();
    await q.enqueue(name, {});
    await waitFor('the job to start', () => events.includes('start'));
    await q.stop(10_000);
    expect(events).toEqual(['start', 'end']);

    const next = queue();
    const later: string[] = [];
    next.define({ name, handler: async (data: string) => void later.push(data) });
    await next.start();
    await next.enqueue(name, 'sentinel');
    await waitFor('the sentinel', () => later.includes('sentinel'));
    expect(later).toEqual(['sentinel']);
  });

  it('stop() with a short timeout gives an unfinished job back, without using a try', async () => {
    const first = queue();
    const name = uniqueName('release');
    const hold = gate();
    let firstStarted = false;
    first.define({
      name,
      async handler() {
        firstStarted = true;
        await hold.opened;
      },
    });
    await first.start();
    const id = await first.enqueue(name, { keep: 'me' });
    await waitFor('the first worker to start the job', () => firstStarted);
    await first.stop(100);

    const second = queue();
    const runs: Array<{ data: unknown; job: JobInfo }> = [];
    second.define({ name, handler: async (data, job) => void runs.push({ data, job }) });
    await second.start();
    await waitFor('the second worker to run the job', () => runs.length === 1);
    expect(runs[0]).toEqual({ data: { keep: 'me' }, job: { id, name, attempt: 1, maxAttempts: 3 } });

    // The first handler finishing late changes nothing.
    hold.open();
    await second.enqueue(name, 'sentinel');
    await waitFor('the sentinel', () => runs.length === 2);
    expect(runs.map((r) => r.data)).toEqual([{ keep: 'me' }, 'sentinel']);
    expect(await second.failed(name)).toEqual([]);
  });

  it('keeps the lease of a job that runs longer than leaseMs, so no other worker takes it', async () => {
    const name = uniqueName('long');
    const hold = gate();
    let started = 0;
    let finished = 0;
    for (const q of [queue(1000), queue(1000)]) {
      q.define({
        name,
        async handler() {
          started++;
          await hold.opened;
          finished++;
        },
      });
      await q.start();
    }
    await open[0].enqueue(name, {});
    await waitFor('the job to start', () => started === 1);
    await sleep(2500); // well past the 1000 ms lease: only renewal keeps the job from the idle worker
    expect(started).toBe(1);
    hold.open();
    await waitFor('the job to finish', () => finished === 1);
    expect(started).toBe(1);
    expect(await open[0].failed(name)).toEqual([]);
  });

  it.skipIf(!adapter.killable)(
    'runs a job again in another worker when its worker is killed with SIGKILL mid-job',
    async (ctx) => {
      // Another process needs to reach the store: not so when the helper fell back to PGlite.
      if (!tdb.url) ctx.skip();
      const name = uniqueName('kill');
      const leaseMs = 1000;
      const q = queue(leaseMs);
      const runs = (jobId: string) =>
        tdb.db.query<{ worker: string; attempt: number; finished: boolean }>(
          'SELECT worker, attempt, finished FROM job_runs WHERE job_id = $1 ORDER BY worker',
          [jobId],
        );
      const done: unknown[] = [];
      q.define({
        name,
        async handler(data, job) {
          done.push(data);
          await tdb.db.query(
            'INSERT INTO job_runs (job_id, worker, attempt, finished) VALUES ($1, $2, $3, true)',
            [job.id, 'parent', job.attempt],
          );
        },
      });
      const id = await q.enqueue(name, { precious: true });

      const cfg = { kind: adapter.kind, dbUrl: tdb.url, redisUrl: REDIS_URL, prefix, jobName: name, leaseMs };
      const child: ChildProcess = spawn(
        process.execPath,
        [path.join(here, 'fixtures/worker.ts'), JSON.stringify(cfg)],
        {
          stdio: ['ignore', 'inherit', 'inherit'],
        },
      );
      const exited = once(child, 'exit');
      try {
        await waitFor('the child to start the job', async () => (await runs(id)).length === 1);
      } finally {
        child.kill('SIGKILL');
      }
      const [, signal] = await exited;
      expect(signal).toBe('SIGKILL');
      expect(await runs(id)).toEqual([
        { worker: expect.stringMatching(/^child-/), attempt: 1, finished: false },
      ]);

      await q.start();
      await waitFor('another worker to finish the job', () => done.length === 1);
      expect(done).toEqual([{ precious: true }]);
      // Nothing lost, nothing doubled: exactly one more run, and the job is in no list.
      await q.enqueue(name, 'sentinel');
      await waitFor('the sentinel', () => done.length === 2);
      expect(done).toEqual([{ precious: true }, 'sentinel']);
      const after = await runs(id);
      expect(after).toHaveLength(2);
      expect(after[1]).toMatchObject({ worker: 'parent', finished: true });
      expect(await q.failed(name)).toEqual([]);
    },
  );
});

describe('postgres adapter on a real server', () => {
  it('wakes a worker at once through NOTIFY when another instance enqueues', async (ctx) => {
    if (!tdb.url) ctx.skip(); // PGlite has no other connection to NOTIFY from
    const name = uniqueName('notify');
    // Polling every minute: only the NOTIFY can make the job run within the wait below.
    const worker = createPostgresQueue({ db: tdb.db, log, pollMs: 60_000, leaseMs: 2000 });
    const producer = createPostgresQueue({ db: tdb.db, log, pollMs: 60_000, leaseMs: 2000 });
    let ran = false;
    worker.define({
      name,
      async handler() {
        ran = true;
      },
    });
    await worker.start();
    await sleep(300); // let its first poll find nothing, so that it sleeps for a minute
    try {
      await producer.enqueue(name, {});
      await waitFor('the notified worker', () => ran, 10_000);
    } finally {
      await worker.stop();
    }
  });
});
