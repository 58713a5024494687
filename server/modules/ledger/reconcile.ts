import type { Db } from '../../db/index.ts';
import { newId } from '../../ids.ts';
import type { PayoutProviderPort } from './port.ts';

export interface ReconciliationDifference {
  /** The provider object (`ch_…`, `re_…`, `tr_…`, `trr_…`). */
  objectId: string;
  kind: 'missing_in_ledger' | 'missing_at_provider' | 'amount_differs';
  currency: string;
  /** Net movement of the platform's provider balance: in the ledger, and on the provider. */
  ledger: bigint;
  provider: bigint;
}

export interface Reconciliation {
  id: string;
  provider: string;
  from: Date;
  to: Date;
  startedAt: Date;
  matched: number;
  differences: ReconciliationDifference[];
  status: 'clean' | 'differences';
}

/** Balance transaction types that move money the ledger does not record (the platform's own bank payouts). */
const OUTSIDE_LEDGER = new Set(['payout', 'payout_cancel', 'payout_failure']);

/** Provider objects dated this close to the range's edges may sit on either side of it. */
const EDGE_MS = 86_400_000;

const toRecon = (r: any): Reconciliation => ({
  id: r.id,
  provider: r.provider,
  from: r.range_from,
  to: r.range_to,
  startedAt: r.started_at,
  matched: r.matched,
  status: r.status,
  differences: (r.differences as any[]).map((d) => ({
    ...d,
    ledger: BigInt(d.ledger),
    provider: BigInt(d.provider),
  })),
});

/**
 * Matches the ledger's movements of the platform's provider balance against
 * the provider's own balance transactions, object by object (the provider id
 * recorded on each ledger transaction), and keeps every difference.
 */
export function createReconciler({ db }: { db: Db }) {
  return {
    async run(provider: PayoutProviderPort, range: { from: Date; to: Date }): Promise<Reconciliation> {
      const key = (id: string, cur: string) => `${id}|${cur}`;
      // Ledger: every provider object posted in the range, with its net effect on provider_cash.
      const ledgerRows = await db.query(
        `SELECT t.provider_object_id AS id, a.currency,
                sum(CASE WHEN e.direction = 'debit' THEN e.amount ELSE -e.amount END)::text AS net
         FROM ledger_transactions t
         JOIN ledger_entries e ON e.transaction_id = t.id
         JOIN ledger_accounts a ON a.id = e.account_id AND a.kind = 'provider_cash' AND a.party = $1
         WHERE t.provider_object_id IS NOT NULL AND t.effective_at >= $2 AND t.effective_at < $3
         GROUP BY 1, 2`,
        [provider.name, range.from, range.to],
      );
      const ledger = new Map(ledgerRows.map((r) => [key(r.id, r.currency), BigInt(r.net)]));
      // Provider: a day wider on both sides, so a charge recorded a moment after midnight still matches.
      const prov = new Map<string, { net: bigint; inRange: boolean }>();
      for await (const bt of provider.balanceTransactions({
        from: new Date(range.from.getTime() - EDGE_MS),
        to: new Date(range.to.getTime() + EDGE_MS),
      })) {
        if (OUTSIDE_LEDGER.has(bt.type)) continue;
        const k = key(bt.source, bt.currency);
        const cur = prov.get(k) ?? { net: 0n, inRange: false };
        cur.net += bt.net;
        cur.inRange ||= bt.created >= range.from && bt.created < range.to;
        prov.set(k, cur);
      }
      // Provider objects in range the ledger may have dated just outside it.
      const unseen = [...prov.entries()]
        .filter(([k, p]) => p.inRange && !ledger.has(k))
        .map(([k]) => k.split('|')[0]);
      if (unseen.length) {
        const rows = await db.query(
          `SELECT t.provider_object_id AS id, a.currency,
                  sum(CASE WHEN e.direction = 'debit' THEN e.amount ELSE -e.amount END)::text AS net
           FROM ledger_transactions t
           JOIN ledger_entries e ON e.transaction_id = t.id
           JOIN ledger_accounts a ON a.id = e.account_id AND a.kind = 'provider_cash' AND a.party = $1
           WHERE t.provider_object_id = ANY($2::text[]) GROUP BY 1, 2`,
          [provider.name, unseen],
        );
        for (const r of rows) ledger.set(key(r.id, r.currency), BigInt(r.net));
      }
      const differences: ReconciliationDifference[] = [];
      let matched = 0;
      const keys = new Set([
        ...ledger.keys(),
        ...[...prov.entries()].filter(([, p]) => p.inRange).map(([k]) => k),
      ]);
      for (const k of [...keys].sort()) {
        const [objectId, currency] = k.split('|');
        const l = ledger.get(k);
        const p = prov.get(k);
        if (l === undefined)
          differences.push({ objectId, currency, kind: 'missing_in_ledger', ledger: 0n, provider: p!.net });
        else if (p === undefined)
          differences.push({ objectId, currency, kind: 'missing_at_provider', ledger: l, provider: 0n });
        else if (l !== p.net)
          differences.push({ objectId, currency, kind: 'amount_differs', ledger: l, provider: p.net });
        else matched++;
      }
      const row = await db.one(
        `INSERT INTO ledger_reconciliations (id, provider, range_from, range_to, matched, differences, status)
         VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING *`,
        [
          newId('rec'),
          provider.name,
          range.from,
          range.to,
          matched,
          JSON.stringify(
            differences.map((d) => ({ ...d, ledger: d.ledger.toString(), provider: d.provider.toString() })),
          ),
          differences.length ? 'differences' : 'clean',
        ],
      );
      return toRecon(row);
    },

    async latest(limit = 20): Promise<Reconciliation[]> {
      return (
        await db.query('SELECT * FROM ledger_reconciliations ORDER BY started_at DESC LIMIT $1', [limit])
      ).map(toRecon);
    },
  };
}
