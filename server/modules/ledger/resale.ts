import type { Db } from '../../db/index.ts';

/** An agency's earnings from one of its customers (a sub-account), per currency. */
export interface ResaleEarnings {
  customerOrgId: string;
  currency: string;
  /** Charges recorded, and what the customer paid in them (minor units, before refunds). */
  charges: number;
  gross: bigint;
  refunded: bigint;
  /** The agency's part of those charges: its schedule share plus its markup (after its part of the fees). */
  agencyShare: bigint;
  /** Of `agencyShare`, the resale markup. */
  markup: bigint;
  /** What refunds took back of the agency's share (at the charges' rates). */
  refundedShare: bigint;
}

/**
 * What an agency earned from each of its customers, read from the recorded
 * charges' splits (the ledger's own record of who got what), so the agency's
 * dashboard shows the figures its payouts are made of.
 */
export function createResaleReports({ db }: { db: Db }) {
  return {
    async resaleEarnings(agencyOrgId: string): Promise<ResaleEarnings[]> {
      const rows = await db.query(
        `SELECT c.customer_org_id, c.currency, count(*)::int AS charges, sum(c.amount)::text AS gross,
           sum(c.refunded)::text AS refunded,
           coalesce(sum(a.amount), 0)::text AS agency_share, coalesce(sum(a.markup), 0)::text AS markup,
           coalesce(sum(r.amount), 0)::text AS refunded_share
         FROM ledger_charges c
         LEFT JOIN LATERAL (
           SELECT (p->>'amount')::bigint AS amount, coalesce((p->>'markup')::bigint, 0) AS markup
           FROM jsonb_array_elements(c.parts) p WHERE p->>'role' = 'agency' AND p->>'party' = $1
         ) a ON true
         LEFT JOIN LATERAL (
           SELECT sum((p->>'amount')::bigint) AS amount
           FROM ledger_refunds f, jsonb_array_elements(f.split->'partners') p
           WHERE f.invoice_id = c.invoice_id AND p->>'party' = $1
         ) r ON true
         WHERE c.agency_org_id = $1
         GROUP BY 1, 2 ORDER BY 1, 2`,
        [agencyOrgId],
      );
      return rows.map((r) => ({
        customerOrgId: r.customer_org_id,
        currency: r.currency,
        charges: r.charges,
        gross: BigInt(r.gross),
        refunded: BigInt(r.refunded),
        agencyShare: BigInt(r.agency_share),
        markup: BigInt(r.markup),
        refundedShare: BigInt(r.refunded_share),
      }));
    },
  };
}
