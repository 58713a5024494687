import { type Db, newId, type Tx } from '../../server/plugin-api/index.ts';

export interface Debit {
  id: string;
  status: 'reserved' | 'committed' | 'voided' | 'expired';
  amount: number;
  committed: number | null;
  idempotencyKey: string;
  expiresAt: string | null;
  /** The spendable balance after this call. */
  balance: number;
  replayed: boolean;
}

export type CreditRefusal =
  | { kind: 'insufficient'; balance: number; requested: number }
  | { kind: 'key_reused'; debitId: string }
  | { kind: 'not_found' }
  | { kind: 'closed'; status: string }
  | { kind: 'blocked'; until: string; refusals: number };

export class CreditError extends Error {
  readonly refusal: CreditRefusal;
  constructor(refusal: CreditRefusal) {
    super(refusal.kind);
    this.refusal = refusal;
  }
}

export interface LowBalance {
  accountId: string;
  balance: number;
  threshold: number;
}

/**
 * Prepaid credit wallets. Every change to an account's credits first locks
 * its wallet row (SELECT ... FOR UPDATE), so concurrent deductions run one
 * after the other on one balance: the check "enough credits" and the
 * decrement happen under the same lock, and the grants' CHECK (remaining >=
 * 0) stands behind it. Credits are taken from the grants that expire first;
 * each debit records what it took from which grant, so a void or an expired
 * reservation gives every grant back exactly its part.
 */
export function createCredits(
  db: Db,
  hooks: {
    /** Called inside the transaction when a balance falls below the account's threshold. */
    lowBalance(tx: Tx, low: LowBalance): Promise<void>;
    threshold(accountId: string, tx: Tx): Promise<number>;
    /** Called inside the transaction when the last hour's spend reaches `limits.spendAlertPerHour`. */
    spendAlert(tx: Tx, alert: { accountId: string; spentLastHour: number; threshold: number }): Promise<void>;
    /** Called inside the transaction when credits are spent for good (a deduction, a committed reservation). */
    committed?(tx: Tx, spent: { accountId: string; debitId: string; credits: number }): Promise<void>;
  },
  limits: { blockAfterRefusals: number; blockMinutes: number; spendAlertPerHour: number } = {
    blockAfterRefusals: 0,
    blockMinutes: 0,
    spendAlertPerHour: 0,
  },
) {
  async function lockWallet(
    tx: Tx,
    accountId: string,
  ): Promise<{ low_balance_notified: boolean; refusals_in_row: number; blocked_until: Date | null }> {
    await tx.query('INSERT INTO billing_wallets (account_id) VALUES ($1) ON CONFLICT DO NOTHING', [
      accountId,
    ]);
    return tx.one(
      'SELECT low_balance_notified, refusals_in_row, blocked_until FROM billing_wallets WHERE account_id = $1 FOR UPDATE',
      [accountId],
    );
  }

  /**
   * A refused deduction counts towards the block (in its own statement: the refused
   * transaction rolled back); `blockAfterRefusals` in a row block spending for `blockMinutes`.
   */
  async function countRefusal(accountId: string) {
    if (!limits.blockAfterRefusals) return;
    await db.query(
      `UPDATE billing_wallets SET refusals_in_row = refusals_in_row + 1,
         blocked_until = CASE WHEN refusals_in_row + 1 >= $2 THEN now() + make_interval(mins => $3) ELSE blocked_until END
       WHERE account_id = $1`,
      [accountId, limits.blockAfterRefusals, limits.blockMinutes],
    );
  }

  /** Once per account and clock hour: the spend alert when the last hour's spend reaches the threshold. */
  async function watchSpend(tx: Tx, accountId: string) {
    if (!limits.spendAlertPerHour) return;
    const r = await tx.one<{ n: number }>(
      `SELECT coalesce(sum(committed), 0)::bigint AS n FROM billing_credit_debits
        WHERE account_id = $1 AND status = 'committed' AND settled_at > now() - interval '1 hour'`,
      [accountId],
    );
    const spent = Number(r.n);
    if (spent < limits.spendAlertPerHour) return;
    const fresh = await tx.maybeOne(
      `INSERT INTO billing_notices (organization_id, key)
       VALUES ($1, 'spend:' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24'))
       ON CONFLICT DO NOTHING RETURNING key`,
      [accountId],
    );
    if (fresh)
      await hooks.spendAlert(tx, { accountId, spentLastHour: spent, threshold: limits.spendAlertPerHour });
  }

  const spendable = (tx: Tx | Db, accountId: string) =>
    tx.query<{ id: string; remaining: number }>(
      `SELECT id, remaining FROM billing_credit_grants
        WHERE account_id = $1 AND remaining > 0 AND (expires_at IS NULL OR expires_at > now())
        ORDER BY expires_at NULLS LAST, created_at, id`,
      [accountId],
    );

  async function balanceIn(q: Tx | Db, accountId: string): Promise<number> {
    const row = await q.one<{ b: number }>(
      `SELECT coalesce(sum(remaining), 0)::bigint AS b FROM billing_credit_grants
        WHERE account_id = $1 AND (expires_at IS NULL OR expires_at > now())`,
      [accountId],
    );
    return Number(row.b);
  }

  /** After a change under the wallet lock: emit low-balance once per crossing, re-arm above it. */
  async function watchThreshold(tx: Tx, accountId: string, notified: boolean, balance: number) {
    const threshold = await hooks.threshold(accountId, tx);
    if (balance < threshold && !notified) {
      await tx.query('UPDATE billing_wallets SET low_balance_notified = true WHERE account_id = $1', [
        accountId,
      ]);
      await hooks.lowBalance(tx, { accountId, balance, threshold });
    } else if (balance >= threshold && notified)
      await tx.query('UPDATE billing_wallets SET low_balance_notified = false WHERE account_id = $1', [
        accountId,
      ]);
  }

  const toDebit = (r: any, balance: number, replayed: boolean): Debit => ({
    id: r.id,
    status: r.status,
    amount: Number(r.amount),
    committed: r.committed === null ? null : Number(r.committed),
    idempotencyKey: r.idempotency_key,
    expiresAt: r.expires_at ? new Date(r.expires_at).toISOString() : null,
    balance,
    replayed,
  });

  /** Deducts at once (`ttlMs` undefined) or reserves for `ttlMs`: all of `amount`, or CreditError. */
  async function debit(
    accountId: string,
    input: { amount: number; idempotencyKey: string; description?: string; appId?: string | null },
    ttlMs?: number,
  ): Promise<Debit> {
    const mode = ttlMs === undefined ? 'committed' : 'reserved';
    return db
      .transaction(async (tx) => {
        const wallet = await lockWallet(tx, accountId);
        const prior = await tx.maybeOne(
          'SELECT * FROM billing_credit_debits WHERE account_id = $1 AND idempotency_key = $2',
          [accountId, input.idempotencyKey],
        );
        if (prior) {
          // The same call again answers what the first answered; another call under its key is refused.
          const same =
            Number(prior.amount) === input.amount && (mode === 'committed') === (prior.expires_at === null);
          if (!same) throw new CreditError({ kind: 'key_reused', debitId: prior.id });
          return toDebit(prior, await balanceIn(tx, accountId), true);
        }
        if (wallet.blocked_until && new Date(wallet.blocked_until) > new Date())
          throw new CreditError({
            kind: 'blocked',
            until: new Date(wallet.blocked_until).toISOString(),
            refusals: wallet.refusals_in_row,
          });
        const grants = await spendable(tx, accountId);
        const balance = grants.reduce((s, g) => s + Number(g.remaining), 0);
        if (balance < input.amount)
          throw new CreditError({ kind: 'insufficient', balance, requested: input.amount });
        if (wallet.refusals_in_row)
          await tx.query(
            'UPDATE billing_wallets SET refusals_in_row = 0, blocked_until = NULL WHERE account_id = $1',
            [accountId],
          );
        const take: Array<[string, number]> = [];
        let left = input.amount;
        for (const g of grants) {
          if (left === 0) break;
          const n = Math.min(left, Number(g.remaining));
          take.push([g.id, n]);
          left -= n;
        }
        const id = newId(mode === 'committed' ? 'cdd' : 'crs');
        const row = await tx.one(
          `INSERT INTO billing_credit_debits
           (id, account_id, idempotency_key, amount, committed, status, description, app_id, expires_at, settled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                 CASE WHEN $9::bigint IS NULL THEN NULL ELSE now() + make_interval(secs => $9::bigint / 1000.0) END,
                 CASE WHEN $6 = 'committed' THEN now() END)
         RETURNING *`,
          [
            id,
            accountId,
            input.idempotencyKey,
            input.amount,
            mode === 'committed' ? input.amount : null,
            mode,
            input.description ?? null,
            input.appId ?? null,
            ttlMs ?? null,
          ],
        );
        await moveCredits(tx, id, take, -1);
        const after = balance - input.amount;
        await watchThreshold(tx, accountId, wallet.low_balance_notified, after);
        if (mode === 'committed') {
          await watchSpend(tx, accountId);
          await hooks.committed?.(tx, { accountId, debitId: id, credits: input.amount });
        }
        return toDebit(row, after, false);
      })
      .catch(async (err) => {
        if (err instanceof CreditError && err.refusal.kind === 'insufficient') await countRefusal(accountId);
        throw err;
      });
  }

  /** Adds (`sign` 1) or takes (-1) credits on grants, and records or shrinks the debit's allocations. */
  async function moveCredits(tx: Tx, debitId: string, parts: Array<[string, number]>, sign: 1 | -1) {
    if (!parts.length) return;
    const ids = parts.map((p) => p[0]);
    const amounts = parts.map((p) => p[1]);
    await tx.query(
      `UPDATE billing_credit_grants g SET remaining = g.remaining + $3 * u.n
         FROM unnest($1::text[], $2::bigint[]) AS u(id, n) WHERE g.id = u.id`,
      [ids, amounts, sign],
    );
    if (sign === -1)
      await tx.query(
        `INSERT INTO billing_credit_allocations (debit_id, grant_id, amount)
         SELECT $1, id, n FROM unnest($2::text[], $3::bigint[]) AS u(id, n)`,
        [debitId, ids, amounts],
      );
    else {
      await tx.query(
        `UPDATE billing_credit_allocations a SET amount = a.amount - u.n
           FROM unnest($2::text[], $3::bigint[]) AS u(id, n) WHERE a.debit_id = $1 AND a.grant_id = u.id`,
        [debitId, ids, amounts],
      );
      await tx.query('DELETE FROM billing_credit_allocations WHERE debit_id = $1 AND amount = 0', [debitId]);
    }
  }

  /** Gives back `amount` of a debit to the grants it came from, latest-expiring grant first. */
  async function giveBack(tx: Tx, debitId: string, amount: number) {
    const allocations = await tx.query<{ grant_id: string; amount: number }>(
      `SELECT a.grant_id, a.amount FROM billing_credit_allocations a JOIN billing_credit_grants g ON g.id = a.grant_id
        WHERE a.debit_id = $1 ORDER BY g.expires_at DESC NULLS FIRST, g.created_at DESC, g.id DESC`,
      [debitId],
    );
    const parts: Array<[string, number]> = [];
    let left = amount;
    for (const a of allocations) {
      if (left === 0) break;
      const n = Math.min(left, Number(a.amount));
      parts.push([a.grant_id, n]);
      left -= n;
    }
    await moveCredits(tx, debitId, parts, 1);
  }

  /** Settles a reservation: commit (all or `amount` of it, the rest given back) or void. */
  async function settle(
    accountId: string,
    debitId: string,
    action: 'commit' | 'void' | 'expire',
    amount?: number,
  ): Promise<Debit> {
    // The release of a lapsed reservation must commit before the caller hears "expired".
    const outcome = await db.transaction(async (tx): Promise<Debit | 'lapsed'> => {
      const wallet = await lockWallet(tx, accountId);
      const row = await tx.maybeOne(
        'SELECT * FROM billing_credit_debits WHERE id = $1 AND account_id = $2 FOR UPDATE',
        [debitId, accountId],
      );
      if (!row) throw new CreditError({ kind: 'not_found' });
      const target = action === 'commit' ? 'committed' : action === 'void' ? 'voided' : 'expired';
      if (row.status !== 'reserved') {
        const sameAgain =
          row.status === target &&
          (action !== 'commit' || amount === undefined || Number(row.committed) === amount);
        if (sameAgain) return toDebit(row, await balanceIn(tx, accountId), true);
        throw new CreditError({ kind: 'closed', status: row.status });
      }
      // A reservation past its time is released, even if the sweep has not come by yet.
      const lapsed = new Date(row.expires_at).getTime() <= Date.now();
      if (action !== 'expire' && lapsed) {
        await giveBack(tx, row.id, Number(row.amount));
        await tx.query(
          "UPDATE billing_credit_debits SET status = 'expired', committed = 0, settled_at = now() WHERE id = $1",
          [row.id],
        );
        return 'lapsed';
      }
      const keep = action === 'commit' ? (amount ?? Number(row.amount)) : 0;
      if (keep > Number(row.amount))
        throw new CreditError({ kind: 'closed', status: 'amount_above_reserved' });
      await giveBack(tx, row.id, Number(row.amount) - keep);
      const updated = await tx.one(
        'UPDATE billing_credit_debits SET status = $2, committed = $3, settled_at = now() WHERE id = $1 RETURNING *',
        [row.id, target, keep],
      );
      const balance = await balanceIn(tx, accountId);
      await watchThreshold(tx, accountId, wallet.low_balance_notified, balance);
      if (target === 'committed' && keep > 0) {
        await watchSpend(tx, accountId);
        await hooks.committed?.(tx, { accountId, debitId: row.id, credits: keep });
      }
      return toDebit(updated, balance, false);
    });
    if (outcome === 'lapsed') throw new CreditError({ kind: 'closed', status: 'expired' });
    return outcome;
  }

  /** Releases reservations past their time; returns how many. Run by a recurring job. */
  async function releaseExpired(limit = 500): Promise<number> {
    const due = await db.query<{ id: string; account_id: string }>(
      `SELECT id, account_id FROM billing_credit_debits
        WHERE status = 'reserved' AND expires_at <= now() ORDER BY expires_at LIMIT $1`,
      [limit],
    );
    let released = 0;
    for (const d of due) {
      await settle(d.account_id, d.id, 'expire').then(
        () => released++,
        (err) => {
          // Settled meanwhile (committed just in time, or by another worker): nothing to do.
          if (!(err instanceof CreditError)) throw err;
        },
      );
    }
    return released;
  }

  /** Adds credits once per `reference` (an operator grant's key, a paid top-up's id). */
  async function grant(
    accountId: string,
    input: {
      amount: number;
      source: 'grant' | 'top_up';
      reference: string;
      description: string;
      expiresAt?: Date | null;
    },
  ): Promise<{ id: string; created: boolean; balance: number }> {
    return db.transaction(async (tx) => {
      const wallet = await lockWallet(tx, accountId);
      const row = await tx.maybeOne(
        `INSERT INTO billing_credit_grants (id, account_id, source, amount, remaining, expires_at, reference, description)
         VALUES ($1, $2, $3, $4, $4, $5, $6, $7) ON CONFLICT (account_id, reference) DO NOTHING RETURNING id`,
        [
          newId('cgr'),
          accountId,
          input.source,
          input.amount,
          input.expiresAt?.toISOString() ?? null,
          input.reference,
          input.description,
        ],
      );
      const id =
        row?.id ??
        (
          await tx.one('SELECT id FROM billing_credit_grants WHERE account_id = $1 AND reference = $2', [
            accountId,
            input.reference,
          ])
        ).id;
      const balance = await balanceIn(tx, accountId);
      await watchThreshold(tx, accountId, wallet.low_balance_notified, balance);
      return { id, created: !!row, balance };
    });
  }

  async function summary(accountId: string) {
    const [balance, held, grants] = await Promise.all([
      balanceIn(db, accountId),
      db.one<{ n: number }>(
        `SELECT coalesce(sum(amount), 0)::bigint AS n FROM billing_credit_debits
          WHERE account_id = $1 AND status = 'reserved'`,
        [accountId],
      ),
      db.query(
        `SELECT id, source, amount, remaining, expires_at, description, created_at FROM billing_credit_grants
          WHERE account_id = $1 ORDER BY created_at DESC LIMIT 50`,
        [accountId],
      ),
    ]);
    return {
      balance,
      reserved: Number(held.n),
      grants: grants.map((g) => ({
        id: g.id as string,
        source: g.source as 'grant' | 'top_up',
        amount: Number(g.amount),
        remaining: Number(g.remaining),
        expiresAt: g.expires_at ? new Date(g.expires_at).toISOString() : null,
        expired: !!g.expires_at && new Date(g.expires_at) <= new Date(),
        description: g.description as string,
        createdAt: new Date(g.created_at).toISOString(),
      })),
    };
  }

  /** Credits spent (committed) by an account in [start, end): the invoice's "credits used" line. */
  async function spent(accountId: string, start: Date, end: Date): Promise<number> {
    const r = await db.one<{ n: number }>(
      `SELECT coalesce(sum(committed), 0)::bigint AS n FROM billing_credit_debits
        WHERE account_id = $1 AND status = 'committed' AND settled_at >= $2 AND settled_at < $3`,
      [accountId, start.toISOString(), end.toISOString()],
    );
    return Number(r.n);
  }

  return { debit, settle, releaseExpired, grant, summary, spent, balance: (a: string) => balanceIn(db, a) };
}

export type Credits = ReturnType<typeof createCredits>;
