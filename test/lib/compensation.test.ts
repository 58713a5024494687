import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../server/db/index.ts';
import { withCompensation } from '../../server/lib/compensation.ts';
import { createLogger } from '../../server/logger.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/** Multi-step writes: done steps are undone in reverse when a later one fails; failed undos are logged. */
let database: TestDatabase;
let db: Db;
const lines: Array<Record<string, any>> = [];
const log = createLogger(
  'info',
  new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  }),
);

beforeAll(async () => {
  database = await createTestDatabase({ migrate: false });
  db = database.db;
  await db.exec('CREATE TABLE steps (name text PRIMARY KEY)');
});
afterAll(() => database?.drop());

const names = async () =>
  (await db.query<{ name: string }>('SELECT name FROM steps ORDER BY name')).map((r) => r.name);
const insert = (name: string) => ({
  do: async () => {
    await db.query('INSERT INTO steps (name) VALUES ($1)', [name]);
    return name;
  },
  undo: async (n: string) => void (await db.query('DELETE FROM steps WHERE name = $1', [n])),
});

describe('withCompensation', () => {
  it('keeps every step when all succeed', async () => {
    const result = await withCompensation(log, 'test', async (step) => {
      await step('a', insert('ok-a'));
      await step('b', insert('ok-b'));
      return 'done';
    });
    expect(result).toBe('done');
    expect(await names()).toEqual(['ok-a', 'ok-b']);
    await db.query('DELETE FROM steps');
  });

  it('undoes the done steps in reverse order when a later step fails, and throws its error', async () => {
    const order: string[] = [];
    const tracked = (name: string) => {
      const s = insert(name);
      return {
        do: s.do,
        undo: async (n: string) => {
          order.push(n);
          await s.undo(n);
        },
      };
    };
    const failure = withCompensation(log, 'test', async (step) => {
      await step('first', tracked('c-1'));
      await step('second', tracked('c-2'));
      // A real failure: the primary key refuses a second row with the same name.
      await step('third', insert('c-1'));
    });
    await expect(failure).rejects.toMatchObject({ code: '23505' });
    expect(order).toEqual(['c-2', 'c-1']);
    expect(await names()).toEqual([]);
  });

  it('logs an undo that fails, still runs the other undos, and throws the original error', async () => {
    lines.length = 0;
    const failure = withCompensation(log, 'grant and install', async (step) => {
      await step('kept', insert('u-1'));
      await step('broken undo', {
        do: async () => 'x',
        undo: async () => void (await db.query('DELETE FROM no_such_table')),
      });
      throw new Error('the installation failed');
    });
    await expect(failure).rejects.toThrow('the installation failed');
    expect(await names()).toEqual([]);
    const line = lines.find((l) => l.step === 'broken undo');
    expect(line).toMatchObject({ level: 50, what: 'grant and install' });
    expect(line?.err?.message).toMatch(/no_such_table/);
    expect(line?.msg).toBe('grant and install: undoing "broken undo" failed');
  });
});
