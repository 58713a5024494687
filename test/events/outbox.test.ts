import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { PlazaEvent } from '../../server/modules/events/service.ts';
import { startPlaza, type TestPlaza } from '../helpers/plaza.ts';

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
