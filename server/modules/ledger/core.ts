import { hash } from 'node:crypto';
import type { Db, Queryable, Tx } from '../../db/index.ts';
import { conflict, type FieldError, PlazaError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import { amountProblem, isCurrency } from './currency.ts';
import type { Direction, LedgerAccountKind, LedgerAccountRef, PostInput, PostResult } from './port.ts';

interface KindInfo {
  normal: Direction;
  perParty: boolean;
  noOverdraft: boolean;
}

/** Each account kind's normal side, whether it belongs to a party, and whether it may go below zero. */
export const ACCOUNT_KINDS: Readonly<Record<LedgerAccountKind, KindInfo>> = {
  provider_cash: { normal: 'debit', perParty: true, noOverdraft: false },
  customer_receivable: { normal: 'debit', perParty: true, noOverdraft: false },
  customer_credit_liability: { normal: 'credit', perParty: true, noOverdraft: true },
  receivable_from_partner: { normal: 'debit', perParty: true, noOverdraft: true },
  processing_fees: { normal: 'debit', perParty: false, noOverdraft: false },
  dispute_losses: { normal: 'debit', perParty: false, noOverdraft: false },
  platform_revenue: { normal: 'credit', perParty: false, noOverdraft: false },
  partner_pending: { normal: 'credit', perParty: true, noOverdraft: true },
  partner_payable: { normal: 'credit', perParty: true, noOverdraft: true },
  partner_in_transit: { normal: 'credit', perParty: true, noOverdraft: true },
  disputes_held: { normal: 'credit', perParty: true, noOverdraft: true },
};

/** Postings sent in one statement by postMany. */
const POST_MANY_CHUNK = 50;

interface Account {
  id: number;
  kind: LedgerAccountKind;
  party: string;
  currency: string;
  normal: Direction;
  noOverdraft: boolean;
}

const accountKey = (kind: string, party: string, currency: string) => `${kind}|${party}|${currency}`;

const toBig = (v: unknown): bigint => BigInt((v as string | number | null) ?? 0);

/** A validated posting, with the hash that identifies its body. */
interface Normalized {
  key: string;
  currency: string;
  effectiveAt: Date;
  description: string;
  sourceKind: string;
  sourceId: string;
  providerObjectId: string | null;
  entries: Array<{ kind: LedgerAccountKind; party: string; direction: Direction; amount: bigint }>;
  hash: string;
}

export interface AccountBalance {
  account: LedgerAccountRef;
  currency: string;
  /** In the account's normal direction (a payable's balance is what is owed). */
  balance: bigint;
}

export interface BalanceMismatch {
  account: LedgerAccountRef;
  currency: string;
  cached: bigint;
  replayed: bigint;
}

export interface LedgerEntryView {
  transactionId: string;
  account: LedgerAccountRef;
  direction: Direction;
  amount: bigint;
}

export interface LedgerTransactionView {
  id: string;
  idempotencyKey: string;
  currency: string;
  effectiveAt: Date;
  postedAt: Date;
  description: string;
  sourceRef: { kind: string; id: string; providerObjectId?: string };
  entries: LedgerEntryView[];
}

function normalize(input: PostInput): Normalized {
  const fields: FieldError[] = [];
  const bad = (field: string, reason: string) => fields.push({ field, reason });
  if (typeof input.idempotencyKey !== 'string' || !input.idempotencyKey || input.idempotencyKey.length > 255)
    bad('idempotencyKey', 'must be 1 to 255 characters');
  if (!isCurrency(input.currency)) bad('currency', 'must be a supported ISO 4217 code in upper case');
  if (
    input.effectiveAt !== undefined &&
    !(input.effectiveAt instanceof Date && !Number.isNaN(+input.effectiveAt))
  )
    bad('effectiveAt', 'must be a valid date');
  if (typeof input.description !== 'string' || input.description.length > 500)
    bad('description', 'must be a string of at most 500 characters');
  if (!input.sourceRef?.kind || !input.sourceRef?.id) bad('sourceRef', 'needs a kind and an id');
  const entries: Normalized['entries'] = [];
  if (!Array.isArray(input.entries) || input.entries.length < 2) bad('entries', 'needs at least two entries');
  let debits = 0n;
  let credits = 0n;
  for (const [i, e] of (input.entries ?? []).entries()) {
    const info = ACCOUNT_KINDS[e?.account?.kind as LedgerAccountKind];
    if (!info) {
      bad(`entries[${i}].account.kind`, 'unknown account kind');
      continue;
    }
    const party = e.account.party ?? '';
    if (info.perParty && !party)
      bad(`entries[${i}].account.party`, `${e.account.kind} accounts belong to a party`);
    if (!info.perParty && party) bad(`entries[${i}].account.party`, `${e.account.kind} is platform-wide`);
    if (e.direction !== 'debit' && e.direction !== 'credit')
      bad(`entries[${i}].direction`, 'must be debit or credit');
    const problem = amountProblem(e.amount);
    if (problem) {
      bad(`entries[${i}].amount`, problem);
      continue;
    }
    if (e.direction === 'debit') debits += e.amount;
    else credits += e.amount;
    entries.push({ kind: e.account.kind, party, direction: e.direction, amount: e.amount });
  }
  if (!fields.length && debits !== credits)
    bad('entries', `debits (${debits}) and credits (${credits}) must be equal`);
  if (fields.length)
    throw new PlazaError(
      'PLAZA_VALIDATION',
      `ledger posting: ${fields.map((f) => `${f.field} ${f.reason}`).join('; ')}`,
      {
        fields,
      },
    );
  const body = {
    currency: input.currency,
    effectiveAt: input.effectiveAt?.toISOString() ?? null,
    description: input.description,
    sourceRef: [input.sourceRef.kind, input.sourceRef.id, input.sourceRef.providerObjectId ?? null],
    entries: entries.map((e) => `${e.kind}|${e.party}|${e.direction}|${e.amount}`).sort(),
  };
  return {
    key: input.idempotencyKey,
    currency: input.currency,
    effectiveAt: input.effectiveAt ?? new Date(),
    description: input.description,
    sourceKind: input.sourceRef.kind,
    sourceId: input.sourceRef.id,
    providerObjectId: input.sourceRef.providerObjectId ?? null,
    entries,
    // One-shot hash: the same digest as a Hash object's, without making one per posting.
    hash: hash('sha256', JSON.stringify(body)),
  };
}

export type LedgerCore = ReturnType<typeof createLedgerCore>;

/**
 * The double-entry book: balanced, immutable transactions with cached
 * balances that always equal the replay of the entries. The database holds
 * the invariants itself (triggers and constraints in the migrations); the
 * checks here only turn bad input into clear errors before it gets there.
 */
export function createLedgerCore({ db }: { db: Db }) {
  /** Accounts known to exist (committed); they are never deleted. */
  const accounts = new Map<string, Account>();
  const byId = new Map<number, Account>();

  const toAccount = (r: any): Account => ({
    id: Number(r.id),
    kind: r.kind,
    party: r.party,
    currency: r.currency,
    normal: r.normal,
    noOverdraft: r.no_overdraft,
  });

  async function resolveAccounts(
    q: Tx,
    currency: string,
    wanted: Array<{ kind: LedgerAccountKind; party: string }>,
  ): Promise<Map<string, Account>> {
    const found = new Map<string, Account>();
    const missing = new Map<string, { kind: LedgerAccountKind; party: string }>();
    for (const w of wanted) {
      const k = accountKey(w.kind, w.party, currency);
      const a = accounts.get(k);
      if (a) found.set(k, a);
      else missing.set(k, w);
    }
    if (!missing.size) return found;
    const list = [...missing.values()];
    // Two statements: after waiting on a concurrent creator, the SELECT sees its committed row.
    await q.query(
      `WITH ins AS (
         INSERT INTO ledger_accounts (kind, party, currency, normal, no_overdraft)
         SELECT k, p, $3, n, o FROM unnest($1::text[], $2::text[], $4::text[], $5::boolean[]) AS u(k, p, n, o)
         ON CONFLICT (kind, party, currency) DO NOTHING RETURNING id, no_overdraft)
       INSERT INTO ledger_balances (account_id, slot, no_overdraft) SELECT ins.id, 0, ins.no_overdraft FROM ins`,
      [
        list.map((w) => w.kind),
        list.map((w) => w.party),
        currency,
        list.map((w) => ACCOUNT_KINDS[w.kind].normal),
        list.map((w) => ACCOUNT_KINDS[w.kind].noOverdraft),
      ],
    );
    const rows = await q.query(
      `SELECT a.* FROM ledger_accounts a JOIN unnest($1::text[], $2::text[]) AS u(k, p)
         ON a.kind = u.k AND a.party = u.p AND a.currency = $3`,
      [list.map((w) => w.kind), list.map((w) => w.party), currency],
    );
    const fresh = rows.map(toAccount);
    for (const a of fresh) found.set(accountKey(a.kind, a.party, a.currency), a);
    // Remember them only once they are surely committed.
    q.afterCommit(() => {
      for (const a of fresh) {
        accounts.set(accountKey(a.kind, a.party, a.currency), a);
        byId.set(a.id, a);
      }
    });
    return found;
  }

  async function accountById(q: Queryable, id: number): Promise<Account | undefined> {
    return (
      byId.get(id) ?? (await q.query('SELECT * FROM ledger_accounts WHERE id = $1', [id])).map(toAccount)[0]
    );
  }

  /**
   * ledger_post's 12 arguments for a validated posting, or undefined when one of its
   * accounts is not in `accts`. The function derives the balance changes from the
   * entries itself: no-overdraft accounts keep their whole balance in slot 0, where
   * the CHECK guards it; the others (busy platform-wide accounts) change this
   * connection's slot.
   */
  function postArgs(n: Normalized, accts: Map<string, Account>): unknown[] | undefined {
    const ids: string[] = [];
    const directions: string[] = [];
    const amounts: string[] = [];
    for (const e of n.entries) {
      const a = accts.get(accountKey(e.kind, e.party, n.currency));
      if (!a) return undefined;
      ids.push(String(a.id));
      directions.push(e.direction);
      amounts.push(e.amount.toString());
    }
    return [
      newId('ltx'),
      n.key,
      n.hash,
      n.currency,
      n.effectiveAt,
      n.description,
      n.sourceKind,
      n.sourceId,
      n.providerObjectId,
      ids,
      directions,
      amounts,
    ];
  }

  /** postArgs for a posting whose accounts resolveAccounts has just made or found. */
  function created(n: Normalized, accts: Map<string, Account>): unknown[] {
    const args = postArgs(n, accts);
    if (!args) throw new Error(`ledger accounts of ${n.key} were not created`);
    return args;
  }

  function result(
    n: Normalized,
    row: { transaction_id: string; body_hash: string; replayed: boolean },
  ): PostResult {
    if (row.replayed && row.body_hash !== n.hash)
      throw new PlazaError(
        'PLAZA_CONFLICT',
        `idempotency key ${n.key} was already used for a different ledger transaction`,
        { fields: [{ field: 'idempotencyKey', reason: 'already used with a different body' }] },
      );
    return { transactionId: row.transaction_id, replayed: row.replayed };
  }

  async function post(tx: Tx, input: PostInput): Promise<PostResult> {
    const n = normalize(input);
    // Accounts this process already knows (all of them, after the first posting to each)
    // need no statement of their own.
    const args = postArgs(n, accounts) ?? created(n, await resolveAccounts(tx, n.currency, n.entries));
    let row: { transaction_id: string; body_hash: string; replayed: boolean };
    try {
      [row] = await tx.query(
        'SELECT * FROM ledger_post($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)',
        args,
        'ledger_post',
      );
    } catch (err) {
      throw await translateError(tx, err);
    }
    return result(n, row);
  }

  /**
   * Several postings in one round trip, in order, each with its own key and
   * checks; one refused fails the statement (and so the caller's transaction).
   */
  async function postMany(tx: Tx, inputs: PostInput[]): Promise<PostResult[]> {
    if (inputs.length <= 1) return Promise.all(inputs.map((i) => post(tx, i)));
    // 12 parameters each: chunks stay far below PostgreSQL's 65,535 and reuse a few prepared statements.
    if (inputs.length > POST_MANY_CHUNK) {
      const out: PostResult[] = [];
      for (let i = 0; i < inputs.length; i += POST_MANY_CHUNK)
        out.push(...(await postMany(tx, inputs.slice(i, i + POST_MANY_CHUNK))));
      return out;
    }
    const ns = inputs.map(normalize);
    const accts = new Map<string, Account>();
    for (const currency of new Set(ns.map((n) => n.currency)))
      for (const [k, a] of await resolveAccounts(
        tx,
        currency,
        ns.filter((n) => n.currency === currency).flatMap((n) => n.entries),
      ))
        accts.set(k, a);
    // UNION ALL runs its branches one after the other, in the order written.
    const sql = ns
      .map(
        (_, i) =>
          `SELECT * FROM ledger_post(${Array.from({ length: 12 }, (_, j) => `$${i * 12 + j + 1}`).join(', ')})`,
      )
      .join(' UNION ALL ');
    let rows: Array<{ transaction_id: string; body_hash: string; replayed: boolean }>;
    try {
      rows = await tx.query(
        sql,
        ns.flatMap((n) => created(n, accts)),
        `ledger_post_${ns.length}`,
      );
    } catch (err) {
      throw await translateError(tx, err);
    }
    return ns.map((n, i) => result(n, rows[i]));
  }

  /** Creates the accounts a batch of postings will use, ahead of them (one statement pair per 1,000). */
  async function ensureAccounts(currency: string, refs: LedgerAccountRef[]): Promise<void> {
    const wanted = refs
      .map((r) => ({ kind: r.kind, party: r.party ?? '' }))
      .filter((w) => !accounts.has(accountKey(w.kind, w.party, currency)));
    for (let i = 0; i < wanted.length; i += 1000)
      await db.transaction((tx) => resolveAccounts(tx, currency, wanted.slice(i, i + 1000)).then(() => {}));
  }

  async function translateError(q: Queryable, err: any): Promise<unknown> {
    if (err?.code === '23514' && err?.constraint === 'ledger_balances_no_overdraft') {
      const id = Number(/\((\d+),/.exec(err.detail ?? '')?.[1]);
      // The transaction is aborted: the account is named from memory, or by id.
      const a = byId.get(id);
      const what = a ? `${a.kind}${a.party ? ` of ${a.party}` : ''} (${a.currency})` : `account ${id}`;
      return new PlazaError('PLAZA_CONFLICT', `insufficient balance: ${what} cannot go below zero`, {
        extra: {
          reason: 'insufficient_balance',
          ...(a ? { account: { kind: a.kind, party: a.party || undefined } } : {}),
        },
        cause: err,
      });
    }
    if (err?.hint === 'ledger_period_closed' || /period closed through/.test(err?.message ?? ''))
      return new PlazaError('PLAZA_CONFLICT', err.message, {
        fields: [{ field: 'effectiveAt', reason: 'falls in a closed period' }],
        extra: { reason: 'period_closed' },
        cause: err,
      });
    void q;
    return err;
  }

  async function balanceRows(q: Queryable, where: string, params: unknown[]): Promise<AccountBalance[]> {
    const rows = await q.query(
      `SELECT a.kind, a.party, a.currency, coalesce(sum(b.balance), 0)::text AS balance
       FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
       WHERE ${where} GROUP BY a.id ORDER BY a.kind, a.party, a.currency`,
      params,
    );
    return rows.map((r) => ({
      account: r.party ? { kind: r.kind, party: r.party } : { kind: r.kind },
      currency: r.currency,
      balance: toBig(r.balance),
    }));
  }

  return {
    post,
    postMany,
    ensureAccounts,

    /** The balance of one account (0 when it has never been used). */
    async balance(ref: LedgerAccountRef, currency: string, q: Queryable = db): Promise<bigint> {
      const [r] = await q.query(
        `SELECT coalesce(sum(b.balance), 0)::text AS balance FROM ledger_accounts a
         JOIN ledger_balances b ON b.account_id = a.id WHERE a.kind = $1 AND a.party = $2 AND a.currency = $3`,
        [ref.kind, ref.party ?? '', currency],
      );
      return toBig(r?.balance);
    },

    /** Every account of a party (all currencies), or every platform-wide account when party is ''. */
    balancesOf: (party: string, q: Queryable = db) => balanceRows(q, 'a.party = $1', [party]),

    /** Every account's balance. */
    allBalances: (q: Queryable = db) => balanceRows(q, 'true', []),

    /**
     * Recomputes every balance from the entries, in one snapshot, and lists
     * the accounts whose cached balance differs (none in a healthy ledger).
     * Also lists transactions that do not balance.
     */
    async verify(): Promise<{ mismatches: BalanceMismatch[]; unbalanced: string[]; accounts: number }> {
      return db.transaction(async (tx) => {
        await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const rows = await tx.query(
          `SELECT a.kind, a.party, a.currency, coalesce(b.cached, 0)::text AS cached, coalesce(e.replayed, 0)::text AS replayed,
                  count(*) OVER () AS total
           FROM ledger_accounts a
           LEFT JOIN (SELECT account_id, sum(balance) AS cached FROM ledger_balances GROUP BY 1) b ON b.account_id = a.id
           LEFT JOIN (SELECT en.account_id,
                             sum(CASE WHEN en.direction = ac.normal THEN en.amount ELSE -en.amount END) AS replayed
                      FROM ledger_entries en JOIN ledger_accounts ac ON ac.id = en.account_id GROUP BY 1) e
             ON e.account_id = a.id`,
        );
        const unbalanced = await tx.query<{ transaction_id: string }>(
          `SELECT transaction_id FROM ledger_entries GROUP BY transaction_id
           HAVING sum(CASE WHEN direction = 'debit' THEN amount ELSE -amount END) <> 0 OR count(*) < 2`,
        );
        return {
          accounts: rows.length,
          mismatches: rows
            .filter((r) => r.cached !== r.replayed)
            .map((r) => ({
              account: r.party ? { kind: r.kind, party: r.party } : { kind: r.kind },
              currency: r.currency,
              cached: toBig(r.cached),
              replayed: toBig(r.replayed),
            })),
          unbalanced: unbalanced.map((r) => r.transaction_id),
        };
      });
    },

    /** One transaction with its entries. */
    async transaction(id: string, q: Queryable = db): Promise<LedgerTransactionView | undefined> {
      const t = await q.maybeOne('SELECT * FROM ledger_transactions WHERE id = $1', [id]);
      if (!t) return undefined;
      const entries = await q.query(
        `SELECT e.direction, e.amount::text AS amount, a.kind, a.party FROM ledger_entries e
         JOIN ledger_accounts a ON a.id = e.account_id WHERE e.transaction_id = $1 ORDER BY e.id`,
        [id],
      );
      return {
        id: t.id,
        idempotencyKey: t.idempotency_key,
        currency: t.currency,
        effectiveAt: t.effective_at,
        postedAt: t.posted_at,
        description: t.description,
        sourceRef: {
          kind: t.source_kind,
          id: t.source_id,
          ...(t.provider_object_id ? { providerObjectId: t.provider_object_id } : {}),
        },
        entries: entries.map((e) => ({
          transactionId: id,
          account: e.party ? { kind: e.kind, party: e.party } : { kind: e.kind },
          direction: e.direction,
          amount: BigInt(e.amount),
        })),
      };
    },

    /**
     * Posts the mirror image of a transaction (every debit a credit and the
     * reverse): the one way to correct the ledger, since entries never change.
     */
    async reverse(
      tx: Tx,
      transactionId: string,
      opts: { idempotencyKey: string; description: string; effectiveAt?: Date },
    ): Promise<PostResult> {
      const t = await this.transaction(transactionId, tx);
      if (!t) throw new PlazaError('PLAZA_NOT_FOUND', `ledger transaction ${transactionId} not found`);
      return post(tx, {
        idempotencyKey: opts.idempotencyKey,
        currency: t.currency,
        effectiveAt: opts.effectiveAt,
        description: opts.description,
        sourceRef: { kind: 'reversal', id: transactionId },
        entries: t.entries.map((e) => ({
          account: e.account,
          direction: e.direction === 'debit' ? 'credit' : 'debit',
          amount: e.amount,
        })),
      });
    },

    /** The latest closed instant: nothing can be posted before it. */
    async closedThrough(q: Queryable = db): Promise<Date | null> {
      const r = await q.maybeOne<{ t: Date | null }>('SELECT max(closed_through) AS t FROM ledger_closings');
      return r?.t ?? null;
    },

    /**
     * Seals everything before `through` (usually the first instant of the
     * next month). Waits for postings in flight; later ones dated before it
     * are refused by the database.
     */
    async closePeriod(through: Date, closedBy: string | null = null): Promise<{ closedThrough: Date }> {
      if (!(through instanceof Date) || Number.isNaN(+through))
        throw new PlazaError('PLAZA_VALIDATION', 'through must be a date', {
          fields: [{ field: 'through', reason: 'must be a date' }],
        });
      if (through > new Date())
        throw new PlazaError('PLAZA_VALIDATION', 'a period can only be closed once it has ended', {
          fields: [{ field: 'through', reason: 'is in the future' }],
        });
      return db.transaction(async (tx) => {
        await tx.query('LOCK TABLE ledger_transactions IN SHARE MODE');
        const cur = await tx.maybeOne<{ t: Date | null }>(
          'SELECT max(closed_through) AS t FROM ledger_closings',
        );
        if (cur?.t && through <= cur.t) throw conflict(`already closed through ${cur.t.toISOString()}`);
        await tx.query('INSERT INTO ledger_closings (closed_through, closed_by) VALUES ($1, $2)', [
          through,
          closedBy,
        ]);
        return { closedThrough: through };
      });
    },

    /** For reports: look an account up by its internal id. */
    accountById,
  };
}

/** The ledger's migrations (tables prefixed `ledger_`). */
export const ledgerMigrations = {
  owner: 'ledger',
  dir: new URL('./migrations', import.meta.url).pathname,
};
