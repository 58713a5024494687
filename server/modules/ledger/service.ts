import type { Db } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';
import { createLedgerCore } from './core.ts';
import { createPayouts, type EventSink } from './payouts.ts';
import type { LedgerPort } from './port.ts';
import { createReconciler } from './reconcile.ts';
import { createRevenue } from './revenue.ts';
import { createStatements } from './statements.ts';

export interface LedgerDeps {
  db: Db;
  events?: EventSink;
  log?: Logger;
  /** The clock (tests move it); default the system's. */
  now?: () => Date;
  /** Smallest payout in minor units (default 2500: $25). */
  minimumPayout?: bigint;
  /** Days of the month the scheduled payout run pays (default the 1st and the 16th, UTC). */
  payoutDays?: number[];
  /** How long a run holds a payout it is sending (PLAZA_PAYOUT_LEASE_MS; see createPayouts). */
  payoutLeaseMs?: number;
}

export type LedgerService = ReturnType<typeof createLedgerService>;

const DAY = 86_400_000;

/**
 * The ledger: the double-entry book, the revenue-share schedule, charges and
 * refunds with their split, payout runs, statements, tax figures and
 * reconciliation. Payments calls it through `LedgerPort` and hands it the
 * provider through `usePayoutProvider`.
 */
export function createLedgerService({
  db,
  events,
  log,
  now = () => new Date(),
  minimumPayout,
  payoutDays = [1, 16],
  payoutLeaseMs,
}: LedgerDeps) {
  const core = createLedgerCore({ db });
  const revenue = createRevenue({ db, core, now });
  const payouts = createPayouts({ db, core, now, events, log, minimumPayout, leaseMs: payoutLeaseMs });
  const reconciler = createReconciler({ db });
  const statements = createStatements({ db, core });
  const port: LedgerPort = {
    post: core.post,
    splitCharge: revenue.splitCharge,
    recordCharge: revenue.recordCharge,
    recordRefund: revenue.recordRefund,
    recordDispute: revenue.recordDispute,
    recordTransferReversal: revenue.recordTransferReversal,
  };

  return {
    ...core,
    ...revenue,
    ...payouts,
    ...statements,
    ...port,
    now,
    reconciliations: reconciler.latest,

    /**
     * An open dispute's shares that partners were already paid (transferred), with the transfer
     * that carried each: what losing it takes back from their transfers (payments reverses them,
     * then records each with recordTransferReversal keyed on the dispute). Empty once the dispute
     * is closed in the ledger, or before it is opened there.
     */
    async disputedTransfers(
      disputeId: string,
    ): Promise<Array<{ party: string; transferId: string; amount: bigint; currency: string }>> {
      const rows = await db.query(
        `SELECT x.party, l.transfer_id, d.currency,
                least(x.amount::bigint - x.held::bigint, coalesce(l.paid_amount, 0))::text AS amount
         FROM ledger_disputes d
         CROSS JOIN jsonb_to_recordset(d.split) AS x(party text, amount text, held text)
         JOIN ledger_partner_lines l ON l.invoice_id = d.invoice_id AND l.party = x.party
         WHERE d.dispute_id = $1 AND d.status = 'open' AND l.transfer_id IS NOT NULL
         ORDER BY x.party`,
        [disputeId],
      );
      return rows
        .map((r) => ({
          party: r.party,
          transferId: r.transfer_id,
          amount: BigInt(r.amount),
          currency: r.currency,
        }))
        .filter((r) => r.amount > 0n);
    },

    /** Compares the ledger with the provider's balance transactions over [from, to). */
    async reconcile(range: { from: Date; to: Date }) {
      const provider = payouts.payoutProvider();
      if (!provider) throw new Error('no payment provider is connected to the ledger');
      const r = await reconciler.run(provider, range);
      if (r.status !== 'clean')
        log?.warn(
          { reconciliation: r.id, differences: r.differences.length },
          'ledger: reconciliation found differences',
        );
      return r;
    },

    /** Scheduled payouts: once on each payout day (UTC), whichever worker gets there first. */
    async scheduledPayoutRun(): Promise<void> {
      const t = now();
      if (!payoutDays.includes(t.getUTCDate()) || !payouts.payoutProvider()) return;
      const dayStart = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
      const done = await db.maybeOne(
        // A run that never finished (its worker died) does not count: the next hourly look runs again.
        `SELECT id FROM ledger_payout_runs
         WHERE triggered_by = 'schedule' AND started_at >= $1 AND finished_at IS NOT NULL AND error IS NULL LIMIT 1`,
        [dayStart],
      );
      if (!done) await payouts.runPayouts('schedule');
    },

    /** Daily: yesterday (UTC) against the provider. */
    async dailyReconciliation(): Promise<void> {
      if (!payouts.payoutProvider()) return;
      const t = now();
      const to = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
      await this.reconcile({ from: new Date(to.getTime() - DAY), to });
    },

    /** Daily: cached balances against the replay of all entries. */
    async dailyBalanceCheck(): Promise<void> {
      const v = await core.verify();
      if (v.mismatches.length || v.unbalanced.length)
        log?.error(
          { mismatches: v.mismatches.length, unbalanced: v.unbalanced },
          'ledger: balances differ from the entries',
        );
    },
  };
}
