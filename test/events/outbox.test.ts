import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { createCore } from '../../server/core.ts';
import type { Db } from '../../server/db/index.ts';
import type { JobQueue } from '../../server/jobs/types.ts';
import { createLogger } from '../../server/logger.ts';
import { createEventsService, NOTIFY_GAP_MS, type PlazaEvent } from '../../server/modules/events/service.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { startPlaza, type TestPlaza, testConfig } from '../helpers/plaza.ts';

let plaza: TestPlaza;
const received: PlazaEvent[] = [];
let failOnce = true;

beforeAll(async () => {
  plaza = await startPlaza({}, { workers: false });
  plaza.core.events.registerType({
    type: 'test.happened',
    description: 'a test event',
    scope: null,
    owner: 'test',
    payload: z.object({ n: z.number() }),
  });
  plaza.core.events.subscribe({
    name: 'recorder',
    types: ['test.happened'],
    handler: async (e) => void received.push(e),
  });
  plaza.core.events.subscribe({
    name: 'flaky',
    types: ['test.happened'],
    handler: async (e) => {
      if (e.payload.n === 3 && failOnce) {
        failOnce = false;
        throw new Error('flaky subscriber');
      }
    },
  });
});
afterAll(() => plaza.close());

const until = async (cond: () => boolean | Promise<boolean>) => {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('condition not met in time');
};

describe('events with an outbox', () => {
  it('an event exists only if its transaction commits', async () => {
    await expect(
      plaza.core.db.transaction(async (tx) => {
        await plaza.core.events.emit(tx, null, 'test.happened', { n: 1 });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const rows = await plaza.core.db.query("SELECT * FROM events WHERE type = 'test.happened'");
    expect(rows).toHaveLength(0);
  });

  it('an event committed while no dispatcher runs (a crash after commit) is dispatched when one starts', async () => {
    const id = await plaza.core.db.transaction((tx) =>
      plaza.core.events.emit(tx, null, 'test.happened', { n: 2 }),
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toHaveLength(0);
    await plaza.core.startWorkers();
    await until(() => received.some((e) => e.id === id));
    expect(received.find((e) => e.id === id)).toMatchObject({ type: 'test.happened', payload: { n: 2 } });
    const row = await plaza.core.db.one('SELECT dispatched_at FROM events WHERE id = $1', [id]);
    expect(row.dispatched_at).not.toBeNull();
  });

  it('a failing subscriber retries on its own; the other gets the event once', async () => {
    const id = await plaza.core.db.transaction((tx) =>
      plaza.core.events.emit(tx, null, 'test.happened', { n: 3 }),
    );
    await until(() => received.some((e) => e.id === id) && !failOnce);
    await until(async () => (await plaza.core.jobs.failed()).length === 0);
    expect(received.filter((e) => e.id === id)).toHaveLength(1);
  });

  it('an expired dispatch lease is taken over (a dispatcher died mid-dispatch)', async () => {
    await plaza.core.events.stop();
    const id = await plaza.core.db.transaction((tx) =>
      plaza.core.events.emit(tx, null, 'test.happened', { n: 4 }),
    );
    await plaza.core.db.query(
      "UPDATE events SET dispatch_lease_until = now() - interval '1 second' WHERE id = $1",
      [id],
    );
    expect(await plaza.core.events.dispatchPending()).toBe(1);
    await until(() => received.some((e) => e.id === id));
  });

  it('refuses unknown event types and payloads that do not match the schema', async () => {
    await expect(
      plaza.core.db.transaction((tx) => plaza.core.events.emit(tx, null, 'nope.nothing', {})),
    ).rejects.toThrow(/unknown event type/);
    await expect(
      plaza.core.db.transaction((tx) => plaza.core.events.emit(tx, null, 'test.happened', { n: 'x' })),
    ).rejects.toThrow(/schema/);
  });
});

const TestHappened = {
  type: 'test.happened',
  description: 'a test event',
  scope: null,
  owner: 'test',
  payload: z.object({ n: z.number() }),
};

/** A subscriber to test.happened that adds each event's id to `seen`, one by one or in batches. */
const recorder = (name: string, seen: Set<string>) => ({
  name,
  types: ['test.happened'],
  handler: async (e: PlazaEvent) => void seen.add(e.id),
  handleBatch: async (list: PlazaEvent[]) => {
    for (const e of list) seen.add(e.id);
  },
});

describe('waking the dispatchers of other processes', () => {
  it('sends a NOTIFY at once after a quiet spell, and one for every commit of the next gap at its end', async () => {
    vi.useFakeTimers();
    try {
      const notify = vi.fn();
      const db = { notify } as unknown as Db;
      const events = createEventsService({
        db,
        jobs: {} as JobQueue,
        log: createLogger('silent'),
        pollMs: 60_000,
      });
      events.registerType(TestHappened);
      const tx = { query: async () => [], afterCommit: (fn: () => void) => fn() } as never;
      const commit = () => events.emit(tx, null, 'test.happened', { n: 1 });
      await commit();
      expect(notify).toHaveBeenCalledTimes(1);
      await commit();
      await commit();
      expect(notify).toHaveBeenCalledTimes(1);
      await vi.advanceTimersByTimeAsync(NOTIFY_GAP_MS);
      expect(notify).toHaveBeenCalledTimes(2);
      expect(notify).toHaveBeenLastCalledWith('plaza_events', expect.any(String));
      // Nothing committed since: no NOTIFY at the end of the next gap.
      await vi.advanceTimersByTimeAsync(5 * NOTIFY_GAP_MS);
      expect(notify).toHaveBeenCalledTimes(2);
      // The one-statement writers announce the same way.
      events.prepare(null, 'test.happened', { n: 2 }).committed();
      expect(notify).toHaveBeenCalledTimes(3);
    } finally {
      vi.useRealTimers();
    }
  });

  it("a worker process's dispatcher takes every event of a burst committed by an API process, without its poll", async () => {
    const database = await createTestDatabase();
    // The worker's poll is a minute away (the longest there is): only NOTIFYs wake it in time.
    const env = { PLAZA_JOBS_POLL_MS: '60000' };
    const api = await createCore(testConfig(env), { db: database.db });
    const worker = await createCore(testConfig(env), { db: database.db });
    try {
      const seen = new Set<string>();
      for (const core of [api, worker]) core.events.registerType(TestHappened);
      worker.events.subscribe(recorder('burst-recorder', seen));
      await worker.startWorkers();
      const emitOne = (n: number) =>
        n % 2
          ? api.db.transaction((tx) => api.events.emit(tx, null, 'test.happened', { n }))
          : (async () => {
              const event = api.events.prepare(null, 'test.happened', { n });
              await api.db.query(`WITH one AS (SELECT 1) ${event.sql(1, 'one')}`, event.params);
              event.committed();
              return event.id;
            })();
      const ids = await Promise.all(Array.from({ length: 40 }, (_, n) => emitOne(n)));
      await until(() => ids.every((id) => seen.has(id)));
      // And a lone commit after the burst.
      const last = await emitOne(41);
      await until(() => seen.has(last));
    } finally {
      await worker.close(1000);
      await api.close(1000);
      await database.drop();
    }
  });

  it("a dispatcher is not woken again by its own process's NOTIFY: the commit already woke it", async () => {
    const database = await createTestDatabase();
    const core = await createCore(testConfig({ PLAZA_JOBS_POLL_MS: '60000' }), { db: database.db });
    const { db } = core;
    const query = db.query;
    let leases = 0;
    db.query = ((text: string, ...rest: unknown[]) => {
      if (text.startsWith('UPDATE events SET dispatch_lease_until')) leases++;
      return (query as (...a: unknown[]) => Promise<unknown>).call(db, text, ...rest);
    }) as typeof db.query;
    const settle = () => new Promise((r) => setTimeout(r, 150));
    try {
      const seen = new Set<string>();
      core.events.registerType(TestHappened);
      core.events.subscribe(recorder('own-notify-recorder', seen));
      await core.startWorkers();
      await settle(); // the passes of the start and of the LISTEN connection
      leases = 0;
      for (let n = 0; n < 3; n++) {
        const id = await db.transaction((tx) => core.events.emit(tx, null, 'test.happened', { n }));
        await until(() => seen.has(id));
        await settle(); // its NOTIFY has come back by now
      }
      // One pass per commit, each leasing its event; none for the NOTIFYs this process sent.
      expect(leases).toBe(3);
    } finally {
      db.query = query;
      await core.close(1000);
      await database.drop();
    }
  });

  it('the next batch is leased and handed over while the previous one is still being marked dispatched', async () => {
    const database = await createTestDatabase();
    const core = await createCore(testConfig({ PLAZA_JOBS_POLL_MS: '60000' }), { db: database.db });
    const { db } = core;
    const query = db.query;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let held = 0;
    // Every "mark dispatched" waits at the gate until the test opens it.
    db.query = (async (text: string, ...rest: unknown[]) => {
      if (text.startsWith('UPDATE events SET dispatched_at')) {
        held++;
        await gate;
      }
      return (query as (...a: unknown[]) => Promise<unknown>).call(db, text, ...rest);
    }) as typeof db.query;
    try {
      const seen = new Set<string>();
      core.events.registerType(TestHappened);
      core.events.subscribe(recorder('gate-recorder', seen));
      await core.startWorkers();
      const emit = (n: number) => db.transaction((tx) => core.events.emit(tx, null, 'test.happened', { n }));
      const first = await emit(1);
      await until(() => seen.has(first) && held === 1);
      const second = await emit(2);
      await until(() => seen.has(second));
      expect(held).toBe(2);
      const pending = await query.call<Db, [string], Promise<Array<{ id: string }>>>(
        db,
        'SELECT id FROM events WHERE dispatched_at IS NULL AND dispatch_lease_until > now() ORDER BY id',
      );
      expect(pending.map((r) => r.id)).toEqual([first, second]);
      release();
      // Stopping waits for the marks.
      await core.events.stop();
      const marked = await query.call<Db, [string], Promise<Array<{ n: number }>>>(
        db,
        'SELECT count(*)::int AS n FROM events WHERE dispatched_at IS NOT NULL',
      );
      expect(marked[0].n).toBe(2);
      expect(seen.size).toBe(2);
    } finally {
      release();
      db.query = query;
      await core.close(1000);
      await database.drop();
    }
  });
});
