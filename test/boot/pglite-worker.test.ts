import { describe, expect, it } from 'vitest';
import { openPglite } from '../../server/db/index.ts';

/**
 * Embedded PGlite runs in a worker thread (server/db/pglite-worker.ts); what
 * callers see must stay as it was in this thread: errors with their SQLSTATE
 * and fields, BIGINT as numbers, transactions that roll back.
 */
describe('embedded PGlite in its worker thread', () => {
  it('answers as before: error codes and fields, BIGINT as numbers, rollback, and closes', async () => {
    const db = await openPglite();
    try {
      const missing = await db.query('SELECT * FROM no_such_table').catch((e) => e);
      expect(missing).toBeInstanceOf(Error);
      expect(missing).toMatchObject({ code: '42P01' });
      expect(missing.message).toMatch(/no_such_table/);

      await db.exec('CREATE TABLE t (id bigint PRIMARY KEY, note text NOT NULL, at timestamptz, body bytea)');
      await db.query('INSERT INTO t VALUES ($1, $2, $3, $4)', [
        9_007_199_254_740_991,
        'a',
        new Date('2026-01-02T03:04:05Z'),
        Buffer.from('hi'),
      ]);
      const dup = await db.query('INSERT INTO t VALUES (9007199254740991, $1)', ['b']).catch((e) => e);
      expect(dup).toMatchObject({ code: '23505', constraint: 't_pkey', table: 't' });
      const [row] = await db.query('SELECT id, note, at, body, count(*) OVER () AS n FROM t');
      expect(row.id).toBe(9_007_199_254_740_991);
      expect(row.n).toBe(1);
      expect(row.at).toEqual(new Date('2026-01-02T03:04:05Z'));
      expect(Buffer.from(row.body).toString()).toBe('hi');

      await expect(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO t VALUES (2, 'in tx')");
          // A statement through db from inside the transaction's callback runs in it.
          expect((await db.query('SELECT count(*)::int AS n FROM t'))[0].n).toBe(2);
          throw new Error('roll back');
        }),
      ).rejects.toThrow('roll back');
      expect((await db.one('SELECT count(*)::int AS n FROM t')).n).toBe(1);
    } finally {
      await db.close();
    }
    await expect(db.query('SELECT 1')).rejects.toThrow();
  });
});
