import type { Db, Row, Tx } from '../../db/index.ts';
import { conflict } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { Logger } from '../../logger.ts';
import type { LedgerCore } from './core.ts';
import type { LedgerEntryInput, PayoutAccountStatus, PayoutProviderPort } from './port.ts';

/** What the ledger needs of the events module: emit in the caller's transaction. */
export interface EventSink {
  emit(
    tx: Tx,
    organizationId: string | null,
    type: string,
    payload: Record<string, unknown>,
  ): Promise<string>;
}

export interface PayoutRunResult {
  runId: string;
  released: number;
  paid: number;
  held: number;
  belowMinimum: number;
  failed: number;
  resumed: number;
  /** Half-sent payouts left alone because another run (another process) holds their lease. */
  inProgressElsewhere: number;
}

export interface PayoutLine {
  invoiceId: string;
  role: string;
  amount: bigint;
  refunded: bigint;
  netted: bigint;
  paidAmount: bigint | null;
  transferId: string | null;
  chargedAt: Date;
  appId: string;
}

export interface Payout {
  id: string;
  runId: string;
  party: string;
  currency: string;
  gross: bigint;
  netted: bigint;
  amount: bigint;
  state: 'processing' | 'paid' | 'failed';
  failure: string | null;
  destination: string | null;
  createdAt: Date;
  paidAt: Date | null;
}

const toPayout = (r: any): Payout => ({
  id: r.id,
  runId: r.run_id,
  party: r.party,
  currency: r.currency,
  gross: BigInt(r.gross),
  netted: BigInt(r.netted),
  amount: BigInt(r.amount),
  state: r.state,
  failure: r.failure,
  destination: r.destination,
  createdAt: r.created_at,
  paidAt: r.paid_at,
});

/** A payout's lease: held by one run (owner) until it runs out (database clock). */
type Claim = { owner: string; leaseMs: number; renewedAt: number };

/** The provider could not be reached or answered "try again": not a refusal, the payout stays processing. */
const transient = (err: unknown) => (err as { code?: string })?.code === 'PLAZA_UNAVAILABLE';

/** Partners handled at once in a run: each waits on the provider for its status and transfers. */
const PARALLEL = 16;
/** Partners whose matured lines are released in one ledger transaction. */
const RELEASE_BATCH = 500;

async function inParallel<T>(items: T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

export type Payouts = ReturnType<typeof createPayouts>;

/**
 * Payout runs. A run releases the lines whose payout terms ran out (pending →
 * available), then pays every partner whose available balance, less what it
 * owes, reaches the minimum and whose payout account can receive: one
 * transfer per invoice line, keyed `xfer:{invoice}:{payee}` so that a run
 * retried after a crash never pays twice. Payouts a crash left half done are
 * finished first by the next run.
 */
export function createPayouts({
  db,
  core,
  now,
  events,
  log,
  minimumPayout = 2500n,
  leaseMs = 180_000,
}: {
  db: Db;
  core: LedgerCore;
  now: () => Date;
  events?: EventSink;
  log?: Logger;
  minimumPayout?: bigint;
  /**
   * How long a run holds a payout it is sending. Half of it must outlast the
   * provider's slowest answer to one transfer (Stripe adapter: 3 tries of 20 s):
   * the lease is renewed before a transfer whenever half of it is spent, so a
   * transfer never runs past its run's lease and two runs never send one key at once.
   */
  leaseMs?: number;
}) {
  let provider: PayoutProviderPort | undefined;
  let running: Promise<PayoutRunResult> | undefined;

  const emit = async (
    tx: Tx,
    p: Payout | { id: string; party: string; amount: bigint; currency: string },
    type: string,
    reason?: string,
  ) =>
    events?.emit(tx, p.party, type, {
      payoutId: p.id,
      partnerOrgId: p.party,
      amount: Number(p.amount),
      currency: p.currency,
      ...(reason ? { reason } : {}),
    });

  /** pending → available for every line whose terms ran out, many partners per ledger transaction. */
  async function release(): Promise<number> {
    let released = 0;
    for (;;) {
      const done = await db.transaction(async (tx) => {
        const lines = await tx.query(
          `SELECT id, party, currency, (amount - refunded - held)::text AS worth FROM ledger_partner_lines
           WHERE state = 'pending' AND available_at <= $1
           ORDER BY party, currency LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [now(), RELEASE_BATCH * 4],
        );
        if (!lines.length) return 0;
        const byCurrency = new Map<string, Map<string, bigint>>();
        for (const l of lines) {
          const m = byCurrency.get(l.currency) ?? new Map<string, bigint>();
          m.set(l.party, (m.get(l.party) ?? 0n) + BigInt(l.worth));
          byCurrency.set(l.currency, m);
        }
        for (const [currency, parties] of byCurrency) {
          const entries: LedgerEntryInput[] = [];
          for (const [party, amount] of parties) {
            if (amount === 0n) continue;
            entries.push({ account: { kind: 'partner_pending', party }, direction: 'debit', amount });
            entries.push({ account: { kind: 'partner_payable', party }, direction: 'credit', amount });
          }
          if (entries.length)
            await core.post(tx, {
              idempotencyKey: `release:${newId('rel')}`,
              currency,
              effectiveAt: now(),
              description: 'Payout terms ran out: earnings available',
              sourceRef: { kind: 'release', id: lines[0].id },
              entries,
            });
        }
        await tx.query("UPDATE ledger_partner_lines SET state = 'available' WHERE id = ANY($1::text[])", [
          lines.map((l) => l.id),
        ]);
        return lines.length;
      });
      released += done;
      if (!done) return released;
    }
  }

  /**
   * Claims a payout still processing for `owner`: its own lease, or one nobody holds, or one that
   * ran out (its run died). Undefined when another run holds it, or it is no longer processing.
   */
  async function claim(payoutId: string, owner: string): Promise<Payout | undefined> {
    const [row] = await db.query(
      `UPDATE ledger_payouts SET lease_owner = $2, lease_until = clock_timestamp() + make_interval(secs => $3)
       WHERE id = $1 AND state = 'processing'
         AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until < clock_timestamp())
       RETURNING *`,
      [payoutId, owner, leaseMs / 1000],
    );
    return row ? toPayout(row) : undefined;
  }

  /** Keeps the lease for the next transfer: renewed once half of it is spent; false when it was lost. */
  async function keep(p: Payout, c: Claim): Promise<boolean> {
    if (performance.now() - c.renewedAt < c.leaseMs / 2) return true;
    const sentAt = performance.now();
    const [row] = await db.query(
      `UPDATE ledger_payouts SET lease_until = clock_timestamp() + make_interval(secs => $3)
       WHERE id = $1 AND state = 'processing' AND lease_owner = $2 RETURNING id`,
      [p.id, c.owner, c.leaseMs / 1000],
    );
    if (row) c.renewedAt = sentAt;
    return !!row;
  }

  /**
   * Sends the transfers of a payout still processing under `owner`'s lease; settles it when every
   * line is through. 'busy' when another run holds the payout (or took it over): that run finishes it.
   */
  async function finish(
    payoutId: string,
    owner: string,
    opened?: { payout: Payout; claimedAt: number; lines: Row[] },
  ): Promise<'paid' | 'failed' | 'processing' | 'busy'> {
    const claimedAt = opened?.claimedAt ?? performance.now();
    const p = opened?.payout ?? (await claim(payoutId, owner));
    if (!p) {
      const r = await db.maybeOne<{ state: Payout['state'] }>(
        'SELECT state FROM ledger_payouts WHERE id = $1',
        [payoutId],
      );
      return !r || r.state === 'processing' ? 'busy' : r.state;
    }
    const c: Claim = { owner, leaseMs, renewedAt: claimedAt };
    const lines =
      opened?.lines ??
      (await db.query(
        `SELECT l.id, l.invoice_id, l.paid_amount::text AS paid, c.provider_charge_id
       FROM ledger_partner_lines l LEFT JOIN ledger_charges c ON c.invoice_id = l.invoice_id
       WHERE l.payout_id = $1 AND l.state = 'in_payout' ORDER BY l.invoice_id`,
        [payoutId],
        'ledger_payout_lines',
      ));
    // Transfers first (the provider dedupes each key), then one database transaction records them
    // all: a crash in between leaves the lines in the payout, and the next run sends the same keys.
    const sent: Array<{ lineId: string; invoiceId: string; amount: bigint; transferId: string | null }> = [];
    let refusal: string | undefined;
    let stopped: 'busy' | 'processing' | undefined;
    for (const l of lines) {
      const amount = BigInt(l.paid);
      let transferId: string | null = null;
      if (amount > 0n) {
        // Never send a transfer without the lease: another run may have taken the payout over.
        if (!(await keep(p, c))) {
          stopped = 'busy';
          break;
        }
        try {
          ({ transferId } = await provider!.transfer({
            idempotencyKey: `xfer:${l.invoice_id}:${p.party}`,
            partnerOrgId: p.party,
            destinationAccountId: p.destination!,
            amount,
            currency: p.currency,
            transferGroup: l.invoice_id,
            // A plugin's line (postPartnerShares) has no charge to fund the transfer from.
            sourceTransaction: l.provider_charge_id ?? undefined,
            metadata: { payout: p.id, invoice: l.invoice_id },
          }));
        } catch (err) {
          if (transient(err)) {
            // Not an answer: the payout stays processing and the next run sends the same keys.
            log?.warn({ err, payout: p.id }, 'payout: the provider did not answer a transfer');
            stopped = 'processing';
            break;
          }
          refusal = `Transfer refused: ${(err as Error).message}`;
          break;
        }
      }
      sent.push({ lineId: l.id, invoiceId: l.invoice_id, amount, transferId });
    }
    const recorded = await db.transaction(async (tx) => {
      // Only the lease holder records: a run that lost the payout leaves it to the one that took it.
      const [held] = await tx.query(
        "SELECT id FROM ledger_payouts WHERE id = $1 AND state = 'processing' AND lease_owner = $2 FOR UPDATE",
        [p.id, owner],
      );
      if (!held) return false;
      // One round trip for all of them; each keeps its own key (xfer:…) and provider object.
      await core.postMany(
        tx,
        sent
          .filter((t) => t.amount > 0n)
          .map((t) => ({
            idempotencyKey: `xfer:${t.invoiceId}:${p.party}`,
            currency: p.currency,
            effectiveAt: now(),
            description: `Transfer of invoice ${t.invoiceId} to ${p.party}`,
            // Stable across runs: a payout retried after a lost answer posts the same body.
            sourceRef: { kind: 'transfer', id: `${t.invoiceId}:${p.party}`, providerObjectId: t.transferId! },
            entries: [
              {
                account: { kind: 'partner_in_transit', party: p.party },
                direction: 'debit',
                amount: t.amount,
              },
              {
                account: { kind: 'provider_cash', party: provider!.name },
                direction: 'credit',
                amount: t.amount,
              },
            ],
          })),
      );
      const settle = !refusal && !stopped;
      // The lines sent, and the payout: paid when every line is through, else its lease let go
      // (a transient stop: the next run takes it at once).
      const [row] = await tx.query(
        `WITH l AS (
           UPDATE ledger_partner_lines l SET state = 'paid', transfer_id = u.t
           FROM unnest($3::text[], $4::text[]) AS u(id, t) WHERE l.id = u.id)
         UPDATE ledger_payouts SET state = CASE WHEN $5 THEN 'paid' ELSE state END,
           paid_at = CASE WHEN $5 THEN $2::timestamptz ELSE paid_at END,
           lease_until = CASE WHEN $5 THEN lease_until ELSE clock_timestamp() END
         WHERE id = $1 RETURNING *`,
        [p.id, now(), sent.map((t) => t.lineId), sent.map((t) => t.transferId), settle],
        'ledger_payout_settle',
      );
      if (settle) await emit(tx, toPayout(row), 'payout.paid');
      return true;
    });
    if (!recorded) return 'busy';
    if (stopped) return stopped;
    if (refusal) return (await fail(p, owner, refusal)) ? 'failed' : 'busy';
    return 'paid';
  }

  /**
   * A payout another run held when this one started: wait until it is settled, or its lease runs
   * out without being renewed (that run died) and this run takes it over and finishes it. 'busy'
   * when its lease was renewed meanwhile: its run is alive and finishes it.
   */
  async function settledOrTakenOver(payoutId: string, owner: string): Promise<string> {
    let until: number | undefined;
    for (;;) {
      const r = await db.maybeOne<{ state: string; until: Date; left: string }>(
        `SELECT state, lease_until AS until,
                coalesce(extract(epoch FROM lease_until - clock_timestamp()) * 1000, -1)::bigint::text AS left
         FROM ledger_payouts WHERE id = $1`,
        [payoutId],
      );
      if (r?.state !== 'processing') return r?.state ?? 'gone';
      if (until !== undefined && +r.until > until) return 'busy';
      until = +r.until;
      const left = Number(r.left ?? 0);
      if (left < 0) return finish(payoutId, owner);
      await new Promise((resolve) => setTimeout(resolve, Math.min(left + 20, 500)));
    }
  }

  /** A refused transfer: what was not sent goes back to the partner's available balance (lease holder only). */
  async function fail(p: Payout, owner: string, reason: string): Promise<boolean> {
    return db.transaction(async (tx) => {
      const [held] = await tx.query(
        "SELECT id FROM ledger_payouts WHERE id = $1 AND state = 'processing' AND lease_owner = $2 FOR UPDATE",
        [p.id, owner],
      );
      if (!held) return false;
      const lines = await tx.query(
        `SELECT id, paid_amount::text AS paid FROM ledger_partner_lines
         WHERE payout_id = $1 AND state = 'in_payout' FOR UPDATE`,
        [p.id],
      );
      const back = lines.reduce((s, l) => s + BigInt(l.paid), 0n);
      if (back > 0n)
        await core.post(tx, {
          idempotencyKey: `payout-failed:${p.id}`,
          currency: p.currency,
          effectiveAt: now(),
          description: `Payout ${p.id} failed: back to available`,
          sourceRef: { kind: 'payout', id: p.id },
          entries: [
            { account: { kind: 'partner_in_transit', party: p.party }, direction: 'debit', amount: back },
            { account: { kind: 'partner_payable', party: p.party }, direction: 'credit', amount: back },
          ],
        });
      await tx.query(
        `UPDATE ledger_partner_lines SET state = 'available', payout_id = NULL, paid_amount = NULL
         WHERE id = ANY($1::text[])`,
        [lines.map((l) => l.id)],
      );
      await tx.query("UPDATE ledger_payouts SET state = 'failed', failure = $2 WHERE id = $1", [
        p.id,
        reason,
      ]);
      await emit(tx, { ...p, amount: back }, 'payout.failed', reason);
      return true;
    });
  }

  async function hold(
    runId: string,
    party: string,
    currency: string,
    amount: bigint,
    reason: string,
  ): Promise<void> {
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO ledger_payout_holds (party, currency, reason, amount, run_id, held_at) VALUES ($1,$2,$3,$4,$5,$6)
         ON CONFLICT (party, currency) DO UPDATE SET reason = EXCLUDED.reason, amount = EXCLUDED.amount,
           run_id = EXCLUDED.run_id, held_at = EXCLUDED.held_at`,
        [party, currency, reason, amount.toString(), runId, now()],
      );
      await emit(tx, { id: `hold:${runId}`, party, amount, currency }, 'payout.held', reason);
    });
  }

  /** Creates the payout of one partner in one currency (leased to this run), or says why not. */
  async function open(
    runId: string,
    party: string,
    currency: string,
    status: PayoutAccountStatus,
  ): Promise<'paid' | 'held' | 'below_minimum' | 'failed' | 'nothing' | 'busy' | 'processing'> {
    const opened = await db.transaction(async (tx) => {
      const lines = await tx.query(
        // A line an open dispute holds waits for the outcome, whole: its held share is in disputes_held.
        // What the partner owes (netted from this payout) comes in the same statement.
        `SELECT l.id, l.invoice_id, (l.amount - l.refunded - l.netted)::text AS worth, c.provider_charge_id,
                (SELECT coalesce(sum(b.balance), 0) FROM ledger_accounts a JOIN ledger_balances b ON b.account_id = a.id
                 WHERE a.kind = 'receivable_from_partner' AND a.party = $1 AND a.currency = $2)::text AS owed
         FROM ledger_partner_lines l LEFT JOIN ledger_charges c ON c.invoice_id = l.invoice_id
         WHERE l.party = $1 AND l.currency = $2 AND l.state = 'available' AND l.held = 0
         ORDER BY l.available_at, l.id FOR UPDATE OF l`,
        [party, currency],
        'ledger_payout_open_lines',
      );
      const gross = lines.reduce((s, l) => s + BigInt(l.worth), 0n);
      if (!lines.length) return { outcome: 'nothing' as const };
      const owed = BigInt(lines[0].owed);
      const netted = owed < gross ? owed : gross;
      const amount = gross - netted;
      if (amount < minimumPayout) return { outcome: 'below_minimum' as const };
      const negative = status.providerBalance?.find((b) => b.currency === currency && b.amount < 0n);
      if (!status.canReceive || negative)
        return {
          outcome: 'held' as const,
          amount,
          reason: !status.canReceive
            ? (status.reason ?? 'The payout account cannot receive payouts.')
            : `The payout account's ${currency} balance is negative on the provider.`,
        };
      const id = newId('po');
      // Netting takes from the oldest lines first; each line records what it gave.
      let toNet = netted;
      const taken = lines.map((l) => {
        const worth = BigInt(l.worth);
        const take = toNet < worth ? toNet : worth;
        toNet -= take;
        return { id: l.id as string, take, paid: worth - take };
      });
      const claimedAt = performance.now();
      // The payout (leased to this run from its first instant), its lines, and the partner's hold lifted.
      const [row] = await tx.query(
        `WITH l AS (
           UPDATE ledger_partner_lines l SET state = 'in_payout', payout_id = $1, netted = l.netted + u.take, paid_amount = u.paid
           FROM unnest($10::text[], $11::bigint[], $12::bigint[]) AS u(id, take, paid) WHERE l.id = u.id),
         h AS (DELETE FROM ledger_payout_holds WHERE party = $3 AND currency = $4)
         INSERT INTO ledger_payouts (id, run_id, party, currency, gross, netted, amount, state, destination, created_at,
           lease_owner, lease_until)
         VALUES ($1,$2,$3,$4,$5,$6,$7,'processing',$8,$9,$2, clock_timestamp() + make_interval(secs => $13))
         RETURNING *`,
        [
          id,
          runId,
          party,
          currency,
          gross.toString(),
          netted.toString(),
          amount.toString(),
          status.providerAccountId,
          now(),
          taken.map((t) => t.id),
          taken.map((t) => t.take.toString()),
          taken.map((t) => t.paid.toString()),
          leaseMs / 1000,
        ],
        'ledger_payout_open',
      );
      const entries: LedgerEntryInput[] = [
        { account: { kind: 'partner_payable', party }, direction: 'debit', amount: gross },
        { account: { kind: 'receivable_from_partner', party }, direction: 'credit', amount: netted },
        { account: { kind: 'partner_in_transit', party }, direction: 'credit', amount },
      ];
      await core.post(tx, {
        idempotencyKey: `payout:${id}`,
        currency,
        effectiveAt: now(),
        description: `Payout ${id}`,
        sourceRef: { kind: 'payout', id },
        entries: entries.filter((e) => e.amount > 0n),
      });
      await emit(tx, { id, party, amount, currency }, 'payout.created');
      return {
        outcome: 'opened' as const,
        payout: toPayout(row),
        claimedAt,
        lines: lines.map((l, i) => ({ ...l, paid: taken[i].paid.toString() })),
      };
    });
    if (opened.outcome === 'held') {
      await hold(runId, party, currency, opened.amount, opened.reason);
      return 'held';
    }
    if (opened.outcome !== 'opened') return opened.outcome;
    return finish(opened.payout.id, runId, opened);
  }

  async function run(triggeredBy: string): Promise<PayoutRunResult> {
    if (!provider) throw conflict('no payment provider is connected to the ledger yet');
    const runId = newId('prun');
    await db.query('INSERT INTO ledger_payout_runs (id, triggered_by, started_at) VALUES ($1, $2, $3)', [
      runId,
      triggeredBy,
      now(),
    ]);
    const result: PayoutRunResult = {
      runId,
      released: 0,
      paid: 0,
      held: 0,
      belowMinimum: 0,
      failed: 0,
      resumed: 0,
      inProgressElsewhere: 0,
    };
    try {
      // A crash may have left payouts half sent: finish them with the same transfer keys. One another
      // run is sending (its lease is live: the operator's button in the API process while the
      // scheduled job runs in a worker) is left to it: two runs never send one key at once.
      const stuck = await db.query<{ id: string }>(
        "SELECT id FROM ledger_payouts WHERE state = 'processing' ORDER BY id",
      );
      const busy: string[] = [];
      for (const s of stuck) {
        if ((await finish(s.id, runId)) === 'busy') busy.push(s.id);
        else result.resumed++;
      }
      result.released = await release();
      const candidates = await db.query<{ party: string; currency: string }>(
        `SELECT DISTINCT party, currency FROM ledger_partner_lines WHERE state = 'available' ORDER BY party, currency`,
      );
      // The accounts every payout will post to, made up front in a few statements instead of per partner.
      for (const currency of new Set(candidates.map((c) => c.currency)))
        await core.ensureAccounts(currency, [
          { kind: 'provider_cash', party: provider.name },
          ...candidates
            .filter((c) => c.currency === currency)
            .map((c) => ({ kind: 'partner_in_transit' as const, party: c.party })),
        ]);
      const statuses = new Map<string, Promise<PayoutAccountStatus>>();
      await inParallel(candidates, PARALLEL, async ({ party, currency }) => {
        try {
          let status = statuses.get(party);
          if (!status) {
            status = provider!.accountStatus(party);
            statuses.set(party, status);
          }
          const outcome = await open(runId, party, currency, await status);
          if (outcome === 'paid') result.paid++;
          else if (outcome === 'held') result.held++;
          else if (outcome === 'below_minimum') result.belowMinimum++;
          else if (outcome === 'failed') result.failed++;
          else if (outcome === 'busy') result.inProgressElsewhere++;
        } catch (err) {
          // One partner's trouble never stops the run; the next run tries again.
          result.failed++;
          log?.error({ err, party, currency }, 'payout failed');
        }
      });
      for (const id of busy) {
        if ((await settledOrTakenOver(id, runId)) === 'busy') result.inProgressElsewhere++;
        else result.resumed++;
      }
      await db.query(
        `UPDATE ledger_payout_runs SET finished_at = $2, partners_paid = $3, partners_held = $4, partners_below_minimum = $5
         WHERE id = $1`,
        [runId, now(), result.paid, result.held, result.belowMinimum],
      );
      return result;
    } catch (err) {
      await db.query('UPDATE ledger_payout_runs SET finished_at = $2, error = $3 WHERE id = $1', [
        runId,
        now(),
        (err as Error).message,
      ]);
      throw err;
    }
  }

  return {
    minimumPayout,
    /** Payments connects its provider here when its service is created. */
    usePayoutProvider(p: PayoutProviderPort): void {
      provider = p;
    },
    payoutProvider: () => provider,

    /**
     * Runs a payout now: one run at a time per process; across processes (the operator's button in
     * the API, the scheduled job in a worker) each payout being sent is leased to one run.
     */
    runPayouts(triggeredBy = 'schedule'): Promise<PayoutRunResult> {
      running ??= run(triggeredBy).finally(() => {
        running = undefined;
      });
      return running;
    },

    async payoutsOf(party: string, limit = 50): Promise<Payout[]> {
      return (
        await db.query(
          'SELECT * FROM ledger_payouts WHERE party = $1 ORDER BY created_at DESC, id DESC LIMIT $2',
          [party, limit],
        )
      ).map(toPayout);
    },

    async payout(id: string): Promise<(Payout & { lines: PayoutLine[] }) | undefined> {
      const r = await db.maybeOne('SELECT * FROM ledger_payouts WHERE id = $1', [id]);
      if (!r) return undefined;
      const lines = await db.query(
        `SELECT l.*, coalesce(c.charged_at, l.created_at) AS charged_at, coalesce(c.app_id, '') AS app_id FROM ledger_partner_lines l LEFT JOIN ledger_charges c ON c.invoice_id = l.invoice_id
         WHERE l.payout_id = $1 ORDER BY l.invoice_id`,
        [id],
      );
      return {
        ...toPayout(r),
        lines: lines.map((l) => ({
          invoiceId: l.invoice_id,
          role: l.role,
          amount: BigInt(l.amount),
          refunded: BigInt(l.refunded),
          netted: BigInt(l.netted),
          paidAmount: l.paid_amount === null ? null : BigInt(l.paid_amount),
          transferId: l.transfer_id,
          chargedAt: l.charged_at,
          appId: l.app_id,
        })),
      };
    },

    async holdsOf(party: string) {
      return (await db.query('SELECT * FROM ledger_payout_holds WHERE party = $1', [party])).map((h) => ({
        currency: h.currency as string,
        reason: h.reason as string,
        amount: BigInt(h.amount),
        heldAt: h.held_at as Date,
      }));
    },

    async runs(limit = 20) {
      return db.query('SELECT * FROM ledger_payout_runs ORDER BY started_at DESC LIMIT $1', [limit]);
    },
  };
}
