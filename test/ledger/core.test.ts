import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../server/db/index.ts';
import { PlazaError } from '../../server/errors.ts';
import { createLedgerCore, type LedgerCore } from '../../server/modules/ledger/core.ts';
import { CURRENCY_EXPONENTS, formatMinor } from '../../server/modules/ledger/currency.ts';
import type { LedgerAccountRef, PostInput } from '../../server/modules/ledger/port.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

let t: TestDatabase;
let db: Db;
let ledger: LedgerCore;
let seq = 0;
const key = (p = 'k') => `${p}:${++seq}:${Math.random().toString(36).slice(2)}`;

beforeAll(async () => {
  t = await createTestDatabase();
  db = t.db;
  ledger = createLedgerCore({ db });
});
afterAll(async () => {
  await t?.drop();
});

const cash: LedgerAccountRef = { kind: 'provider_cash', party: 'sandbox' };
const revenue: LedgerAccountRef = { kind: 'platform_revenue' };
const payable = (p: string): LedgerAccountRef => ({ kind: 'partner_payable', party: p });

function charge(partner: string, amount: bigint, share: bigint, extra: Partial<PostInput> = {}): PostInput {
  return {
    idempotencyKey: key('charge'),
    currency: 'USD',
    description: 'charge',
    sourceRef: { kind: 'charge', id: key('inv') },
    entries: [
      { account: cash, direction: 'debit', amount },
      { account: revenue, direction: 'credit', amount: amount - share },
      { account: payable(partner), direction: 'credit', amount: share },
    ],
    ...extra,
  };
}

const post = (input: PostInput) => db.transaction((tx) => ledger.post(tx, input));

async function rejection(p: Promise<unknown>): Promise<PlazaError> {
  const err = await p.then(
    () => undefined,
    (e) => e,
  );
  expect(err).toBeInstanceOf(PlazaError);
  return err as PlazaError;
}

async function counts() {
  const r = await db.one<{ tx: number; en: number }>(
    'SELECT (SELECT count(*) FROM ledger_transactions) AS tx, (SELECT count(*) FROM ledger_entries) AS en',
  );
  return { tx: Number(r.tx), en: Number(r.en) };
}

describe('1. every transaction balances per currency', () => {
  it('accepts any balanced posting and refuses any unbalanced one, writing nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.bigInt({ min: 1n, max: 10n ** 12n }), { minLength: 1, maxLength: 5 }),
        fc.bigInt({ min: -1000n, max: 1000n }).filter((d) => d !== 0n),
        async (credits, skew) => {
          const total = credits.reduce((a, b) => a + b, 0n);
          const entries = [
            { account: cash, direction: 'debit' as const, amount: total },
            ...credits.map((amount, i) => ({
              account: payable(`org_b${i}`),
              direction: 'credit' as const,
              amount,
            })),
          ];
          const ok = await post({ ...charge('x', 2n, 1n), entries });
          expect(ok.replayed).toBe(false);
          const before = await counts();
          const badTotal = total + skew > 0n ? total + skew : total + 1n;
          const err = await rejection(
            post({
              ...charge('x', 2n, 1n),
              entries: [{ ...entries[0], amount: badTotal }, ...entries.slice(1)],
            }),
          );
          expect(err.code).toBe('PLAZA_VALIDATION');
          expect(err.fields?.[0].field).toBe('entries');
          expect(await counts()).toEqual(before);
        },
      ),
      { numRuns: 30 },
    );
  });

  it('the database itself refuses an unbalanced transaction written around the service', async () => {
    await post(charge('org_raw', 1000n, 700n));
    const acct = await db.one<{ id: number }>(
      "SELECT id FROM ledger_accounts WHERE kind = 'platform_revenue' AND currency = 'USD'",
    );
    // ledger_post called directly, without the service's checks.
    const raw = (amounts: number[], accounts = amounts.map(() => acct.id)) =>
      db.query(
        `SELECT * FROM ledger_post('ltx_raw', 'raw', 'x', 'USD', now(), 'raw', 'test', 'raw', NULL,
           $1::bigint[], $2::text[], $3::bigint[])`,
        [accounts, amounts.map((_, i) => (i === 0 ? 'debit' : 'credit')), amounts],
      );
    await expect(raw([5, 4])).rejects.toThrow(/does not balance/);
    await expect(raw([5])).rejects.toThrow(/does not balance/);
    // Rows written straight into the tables, past ledger_post, are refused.
    await expect(
      db.query(
        `INSERT INTO ledger_transactions (id, idempotency_key, body_hash, currency, effective_at, description, source_kind, source_id)
         VALUES ('ltx_raw', 'raw', 'x', 'USD', now(), 'raw', 'test', 'raw')`,
      ),
    ).rejects.toThrow(/written only by ledger_post/);
    const [any] = await db.query<{ id: string }>('SELECT id FROM ledger_transactions LIMIT 1');
    await expect(
      db.query(
        `INSERT INTO ledger_entries (transaction_id, account_id, direction, amount) VALUES ($1, $2, 'debit', 5)`,
        [any.id, acct.id],
      ),
    ).rejects.toThrow(/written only by ledger_post/);
    expect(await db.maybeOne("SELECT 1 FROM ledger_transactions WHERE id = 'ltx_raw'")).toBeUndefined();
  });
});

describe('2. amounts are positive integer minor units with a currency exponent table', () => {
  it.each([
    ['zero', 0n],
    ['negative', -5n],
    ['a float', 1.5 as unknown as bigint],
    ['a number instead of bigint', 100 as unknown as bigint],
    ['a string', '100' as unknown as bigint],
    ['beyond the maximum', 10n ** 15n + 1n],
  ])('refuses %s with a field error', async (_, amount) => {
    const err = await rejection(
      post({
        ...charge('x', 2n, 1n),
        entries: [
          { account: cash, direction: 'debit', amount },
          { account: revenue, direction: 'credit', amount },
        ],
      }),
    );
    expect(err.code).toBe('PLAZA_VALIDATION');
    expect(err.fields).toContainEqual({ field: 'entries[0].amount', reason: expect.any(String) });
  });

  it('refuses unknown or lower-case currencies', async () => {
    for (const currency of ['usd', 'XXX', 'US', '']) {
      const err = await rejection(post({ ...charge('x', 10n, 5n), currency }));
      expect(err.fields).toContainEqual({ field: 'currency', reason: expect.any(String) });
    }
  });

  it('knows each currency exponent (JPY 0, USD 2, KWD 3) and formats minor units exactly', () => {
    expect(CURRENCY_EXPONENTS.JPY).toBe(0);
    expect(CURRENCY_EXPONENTS.USD).toBe(2);
    expect(CURRENCY_EXPONENTS.KWD).toBe(3);
    expect(formatMinor(123456n, 'USD')).toBe('1234.56');
    expect(formatMinor(5n, 'USD')).toBe('0.05');
    expect(formatMinor(-5n, 'EUR')).toBe('-0.05');
    expect(formatMinor(500n, 'JPY')).toBe('500');
    expect(formatMinor(1n, 'KWD')).toBe('0.001');
  });

  it('keeps balances beyond 2^53 exact', async () => {
    const each = 10n ** 15n - 1n;
    for (let i = 0; i < 10; i++)
      await post({
        ...charge('x', 2n, 1n),
        entries: [
          { account: { kind: 'customer_receivable', party: 'acct_big' }, direction: 'debit', amount: each },
          { account: payable('org_big'), direction: 'credit', amount: each },
        ],
      });
    expect(await ledger.balance(payable('org_big'), 'USD')).toBe(10n ** 16n - 10n);
    expect(10n ** 16n - 10n > 2n ** 53n).toBe(true);
  });
});

describe('3. entries are immutable; corrections are reversing transactions', () => {
  it('refuses UPDATE, DELETE and TRUNCATE of entries and transactions', async () => {
    const { transactionId } = await post(charge('org_imm', 1000n, 750n));
    await expect(
      db.query('UPDATE ledger_entries SET amount = amount + 1 WHERE transaction_id = $1', [transactionId]),
    ).rejects.toThrow(/immutable/);
    await expect(
      db.query('DELETE FROM ledger_entries WHERE transaction_id = $1', [transactionId]),
    ).rejects.toThrow(/immutable/);
    await expect(
      db.query("UPDATE ledger_transactions SET description = 'x' WHERE id = $1", [transactionId]),
    ).rejects.toThrow(/immutable/);
    await expect(db.query('DELETE FROM ledger_transactions WHERE id = $1', [transactionId])).rejects.toThrow(
      /immutable/,
    );
    await expect(db.query('TRUNCATE ledger_entries CASCADE')).rejects.toThrow(/immutable/);
    const tx = await ledger.transaction(transactionId);
    expect(tx?.entries.map((e) => e.amount)).toEqual([1000n, 250n, 750n]);
  });

  it('a reversal mirrors the original and brings the balances back', async () => {
    const before = await ledger.balance(payable('org_rev'), 'USD');
    const { transactionId } = await post(charge('org_rev', 1000n, 750n));
    expect(await ledger.balance(payable('org_rev'), 'USD')).toBe(before + 750n);
    const rev = await db.transaction((tx) =>
      ledger.reverse(tx, transactionId, { idempotencyKey: key('rev'), description: 'entered twice' }),
    );
    expect(await ledger.balance(payable('org_rev'), 'USD')).toBe(before);
    const mirror = await ledger.transaction(rev.transactionId);
    expect(mirror?.entries.map((e) => [e.account.kind, e.direction, e.amount])).toEqual([
      ['provider_cash', 'credit', 1000n],
      ['platform_revenue', 'debit', 250n],
      ['partner_payable', 'debit', 750n],
    ]);
  });
});

describe('4. idempotency', () => {
  it('the same key with the same body returns the first transaction; a different body is a 409', async () => {
    const input = charge('org_idem', 1000n, 700n);
    const first = await post(input);
    const again = await post({ ...input, entries: [...input.entries].reverse() });
    expect(again).toEqual({ transactionId: first.transactionId, replayed: true });
    expect(await ledger.balance(payable('org_idem'), 'USD')).toBe(700n);
    const err = await rejection(post({ ...input, entries: charge('org_idem', 1000n, 701n).entries }));
    expect(err.code).toBe('PLAZA_CONFLICT');
    expect(err.status).toBe(409);
    expect(err.fields?.[0].field).toBe('idempotencyKey');
    expect(await ledger.balance(payable('org_idem'), 'USD')).toBe(700n);
  });

  it("a body's hash stays what earlier versions stored, so a retry after an upgrade is still a replay", async () => {
    const key = `pin:${Math.random().toString(36).slice(2)}`;
    const { transactionId } = await post({
      idempotencyKey: key,
      currency: 'USD',
      description: 'pinned "body"',
      effectiveAt: new Date('2026-01-02T03:04:05.678Z'),
      sourceRef: { kind: 'charge', id: 'inv_pin', providerObjectId: 'ch_pin' },
      entries: [
        { account: cash, direction: 'debit', amount: 1234n },
        { account: revenue, direction: 'credit', amount: 234n },
        { account: payable('org_pin'), direction: 'credit', amount: 1000n },
      ],
    });
    const row = await db.one<{ body_hash: string }>(
      'SELECT body_hash FROM ledger_transactions WHERE id = $1',
      [transactionId],
    );
    // sha256 of the canonical body as computed before migration 011.
    expect(row.body_hash).toBe('7b6aed03e4956ae4e4435fe09765ed07edd1763b9433469f7b505964a38cd482');
  });

  it('50 concurrent posts with one key create exactly one transaction', async () => {
    const input = charge('org_race', 1000n, 600n);
    const results = await Promise.all(Array.from({ length: 50 }, () => post(input)));
    const ids = new Set(results.map((r) => r.transactionId));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    const n = await db.one<{ n: number }>(
      'SELECT count(*)::int AS n FROM ledger_transactions WHERE idempotency_key = $1',
      [input.idempotencyKey],
    );
    expect(n.n).toBe(1);
    expect(await ledger.balance(payable('org_race'), 'USD')).toBe(600n);
  });
});

describe('5. a transaction and its balance changes commit atomically', () => {
  it('nothing stays when the caller transaction fails after posting', async () => {
    const before = await counts();
    const input = charge('org_atomic', 1000n, 500n);
    await expect(
      db.transaction(async (tx) => {
        await ledger.post(tx, input);
        throw new Error('payment row failed');
      }),
    ).rejects.toThrow('payment row failed');
    expect(await counts()).toEqual(before);
    expect(await ledger.balance(payable('org_atomic'), 'USD')).toBe(0n);
    // The key is free again: the posting did not happen.
    expect((await post(input)).replayed).toBe(false);
  });

  it('a refusal on the last account leaves every other balance unchanged', async () => {
    await post(charge('org_half', 1000n, 300n));
    const cashBefore = await ledger.balance(cash, 'USD');
    const before = await counts();
    const err = await rejection(
      post({
        ...charge('x', 2n, 1n),
        entries: [
          { account: payable('org_half'), direction: 'debit', amount: 200n },
          { account: payable('org_empty_half'), direction: 'debit', amount: 200n },
          { account: cash, direction: 'credit', amount: 400n },
        ],
      }),
    );
    expect(err.code).toBe('PLAZA_CONFLICT');
    expect(await counts()).toEqual(before);
    expect(await ledger.balance(payable('org_half'), 'USD')).toBe(300n);
    expect(await ledger.balance(cash, 'USD')).toBe(cashBefore);
  });

  it('a posting that reaches a no-overdraft account without its balance row is refused whole', async () => {
    await post(charge('org_rowless', 1000n, 300n));
    const [acct] = await db.query<{ id: number }>(
      "SELECT id FROM ledger_accounts WHERE kind = 'partner_payable' AND party = 'org_rowless'",
    );
    await db.query('DELETE FROM ledger_balances WHERE account_id = $1', [acct.id]);
    const cashBefore = await ledger.balance(cash, 'USD');
    const before = await counts();
    await expect(post(charge('org_rowless', 1000n, 300n))).rejects.toThrow(/has no balance row/);
    expect(await counts()).toEqual(before);
    expect(await ledger.balance(cash, 'USD')).toBe(cashBefore);
    expect(await db.query('SELECT 1 FROM ledger_balances WHERE account_id = $1', [acct.id])).toEqual([]);
    // Put the row back for the tests that verify every balance.
    await db.query(
      'INSERT INTO ledger_balances (account_id, slot, no_overdraft, balance) VALUES ($1, 0, true, 300)',
      [acct.id],
    );
  });
});

describe('several postings in one round trip (postMany)', () => {
  it('posts each with its own key and checks, in order, replays them, and refuses them all when one is refused', async () => {
    const before = await ledger.balance(payable('org_many'), 'USD');
    const inputs = Array.from({ length: 120 }, (_, i) => charge('org_many', 100n + BigInt(i), 10n));
    const first = await db.transaction((tx) => ledger.postMany(tx, inputs));
    expect(first).toHaveLength(120);
    expect(first.every((r) => !r.replayed)).toBe(true);
    // In order: each result is its own input's transaction.
    for (const [i, r] of first.entries())
      expect((await ledger.transaction(r.transactionId))?.idempotencyKey).toBe(inputs[i].idempotencyKey);
    expect(await ledger.balance(payable('org_many'), 'USD')).toBe(before + 1_200n);
    const again = await db.transaction((tx) => ledger.postMany(tx, inputs.slice(0, 3)));
    expect(again).toEqual(first.slice(0, 3).map((r) => ({ ...r, replayed: true })));

    // One overdraws a no-overdraft account: none of the batch is written.
    const counted = await counts();
    const overdraw: PostInput = {
      idempotencyKey: key('overdraw'),
      currency: 'USD',
      description: 'too much',
      sourceRef: { kind: 'adjustment', id: key('adj') },
      entries: [
        { account: payable('org_many'), direction: 'debit', amount: 1_000_000n },
        { account: cash, direction: 'credit', amount: 1_000_000n },
      ],
    };
    const err = await rejection(
      db.transaction((tx) => ledger.postMany(tx, [charge('org_many', 500n, 50n), overdraw])),
    );
    expect(err.extra).toMatchObject({ reason: 'insufficient_balance' });
    expect(await counts()).toEqual(counted);
    const v = await ledger.verify();
    expect(v).toMatchObject({ mismatches: [], unbalanced: [] });
  });
});

describe('6. cached balances equal the replay of all entries', () => {
  it('after random concurrent postings, verify() finds no difference', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            partner: fc.constantFrom('org_p1', 'org_p2', 'org_p3'),
            amount: fc.bigInt({ min: 2n, max: 100_000n }),
            payout: fc.boolean(),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        async (ops) => {
          await Promise.all(
            ops.map(async (op) => {
              if (!op.payout) return post(charge(op.partner, op.amount, op.amount / 2n));
              // Payouts may be refused (no overdraft): the refusal must not disturb the cache.
              return post({
                ...charge('x', 2n, 1n),
                entries: [
                  { account: payable(op.partner), direction: 'debit', amount: op.amount },
                  { account: cash, direction: 'credit', amount: op.amount },
                ],
              }).catch((e) => {
                if (!(e instanceof PlazaError) || e.code !== 'PLAZA_CONFLICT') throw e;
              });
            }),
          );
          const v = await ledger.verify();
          expect(v.mismatches).toEqual([]);
          expect(v.unbalanced).toEqual([]);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('verify() reports a cached balance that was tampered with', async () => {
    await post(charge('org_tamper', 1000n, 400n));
    await db.query(
      `UPDATE ledger_balances SET balance = balance + 1 WHERE account_id =
        (SELECT id FROM ledger_accounts WHERE kind = 'partner_payable' AND party = 'org_tamper')`,
    );
    const v = await ledger.verify();
    expect(v.mismatches).toEqual([
      { account: payable('org_tamper'), currency: 'USD', cached: 401n, replayed: 400n },
    ]);
    await db.query(
      `UPDATE ledger_balances SET balance = balance - 1 WHERE account_id =
        (SELECT id FROM ledger_accounts WHERE kind = 'partner_payable' AND party = 'org_tamper')`,
    );
  });
});

describe('7. one currency per transaction', () => {
  it('accounts are per currency: a USD posting never touches the EUR balance', async () => {
    await post({ ...charge('org_cur', 1000n, 400n), currency: 'EUR' });
    await post(charge('org_cur', 500n, 100n));
    expect(await ledger.balance(payable('org_cur'), 'EUR')).toBe(400n);
    expect(await ledger.balance(payable('org_cur'), 'USD')).toBe(100n);
  });

  it('the database refuses an entry on an account of another currency', async () => {
    await post({ ...charge('org_cur2', 1000n, 400n), currency: 'EUR' });
    const eur = await db.one<{ id: number }>(
      "SELECT id FROM ledger_accounts WHERE kind = 'partner_payable' AND party = 'org_cur2' AND currency = 'EUR'",
    );
    const usd = await db.one<{ id: number }>(
      "SELECT id FROM ledger_accounts WHERE kind = 'platform_revenue' AND currency = 'USD'",
    );
    await expect(
      db.query(
        `SELECT * FROM ledger_post('ltx_mix', 'mix', 'x', 'USD', now(), 'mix', 'test', 'mix', NULL,
           $1::bigint[], '{debit,credit}'::text[], '{5,5}'::bigint[])`,
        [[eur.id, usd.id]],
      ),
    ).rejects.toThrow(/outside its one currency USD/);
    expect(await db.maybeOne("SELECT 1 FROM ledger_transactions WHERE id = 'ltx_mix'")).toBeUndefined();
  });
});

describe('8. no-overdraft accounts never go negative', () => {
  it('refuses a payout above the payable balance, inside the transaction, under concurrency', async () => {
    await post(charge('org_od', 1000n, 1000n - 1n));
    // 999 payable; ten concurrent payouts of 300: exactly three fit.
    const tries = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        post({
          ...charge('x', 2n, 1n),
          entries: [
            { account: payable('org_od'), direction: 'debit', amount: 300n },
            { account: cash, direction: 'credit', amount: 300n },
          ],
        }),
      ),
    );
    expect(tries.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
    const refused = tries
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => r.reason);
    expect(refused.every((e) => e instanceof PlazaError && e.code === 'PLAZA_CONFLICT')).toBe(true);
    expect(refused[0].message).toMatch(/partner_payable of org_od \(USD\) cannot go below zero/);
    expect(await ledger.balance(payable('org_od'), 'USD')).toBe(99n);
  });

  it('platform accounts may go below zero (a refund can exceed what is on the balance)', async () => {
    await post({
      ...charge('x', 2n, 1n),
      currency: 'GBP',
      entries: [
        { account: revenue, direction: 'debit', amount: 50n },
        { account: cash, direction: 'credit', amount: 50n },
      ],
    });
    expect(await ledger.balance(cash, 'GBP')).toBe(-50n);
  });
});

describe('11. closed periods are sealed', () => {
  it('refuses a posting dated inside a closed period, accepts one after it', async () => {
    const through = new Date(Date.now() - 60_000);
    const early = charge('org_close', 100n, 50n, { effectiveAt: new Date(through.getTime() - 1000) });
    const first = await post(early);
    await ledger.closePeriod(through, 'usr_op');
    expect(await ledger.closedThrough()).toEqual(through);
    // A replay of a posting made before the closing still returns it.
    expect(await post(early)).toEqual({ transactionId: first.transactionId, replayed: true });
    const before = await counts();
    const err = await rejection(
      post(charge('org_close', 100n, 50n, { effectiveAt: new Date(through.getTime() - 1) })),
    );
    expect(err.code).toBe('PLAZA_CONFLICT');
    expect(err.fields).toEqual([{ field: 'effectiveAt', reason: 'falls in a closed period' }]);
    expect(await counts()).toEqual(before);
    await post(charge('org_close', 100n, 50n, { effectiveAt: through }));
    // Closing cannot go back in time nor into the future.
    await expect(ledger.closePeriod(new Date(through.getTime() - 1000))).rejects.toThrow(/already closed/);
    await expect(ledger.closePeriod(new Date(Date.now() + 86_400_000))).rejects.toThrow(/ended/);
  });

  it('a posting that meets a closing in flight waits for it and is then refused', async () => {
    // Warm the pool's connections: their ledger_post plans are cached when the closing comes.
    await Promise.all(Array.from({ length: 8 }, () => post(charge('org_close2', 100n, 50n))));
    const through = new Date(Date.now() - 1000);
    let locked!: () => void;
    let release!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const gate = new Promise<void>((r) => (release = r));
    // closePeriod's own steps, held open between the lock and the commit.
    const closing = db.transaction(async (tx) => {
      await tx.query('LOCK TABLE ledger_transactions IN SHARE MODE');
      await tx.query('INSERT INTO ledger_closings (closed_through) VALUES ($1)', [through]);
      locked();
      await gate;
    });
    await isLocked;
    const before = await counts();
    const late = Promise.all(
      Array.from({ length: 4 }, () =>
        rejection(post(charge('org_close2', 100n, 50n, { effectiveAt: new Date(through.getTime() - 1) }))),
      ),
    );
    // Let the postings reach the lock, then commit the closing.
    await new Promise((r) => setTimeout(r, 200));
    release();
    await closing;
    for (const err of await late)
      expect(err.fields).toEqual([{ field: 'effectiveAt', reason: 'falls in a closed period' }]);
    expect(await counts()).toEqual(before);
  });
});
