import type { Db } from '../../db/index.ts';
import type { LedgerCore } from './core.ts';
import { formatMinor } from './currency.ts';

export interface PartnerBalance {
  currency: string;
  /** Earned, payout terms still running. */
  pending: bigint;
  /** Can be paid out by the next run. */
  available: bigint;
  /** In a payout whose transfers are not all through. */
  inTransit: bigint;
  /** Transferred to the partner's payout account, all time. */
  paid: bigint;
  /** What the partner owes (reversals that could not be taken), netted from the next payouts. */
  owed: bigint;
}

export interface TaxFigures {
  party: string;
  year: number;
  currency: string;
  /** What customers paid for the payee's apps (gross), and in how many charges. */
  gross: bigint;
  transactions: number;
  /** Processing fees of those charges. */
  fees: bigint;
  /** Refunded to customers in the year. */
  refunds: bigint;
  /** The payee's share of the year's charges less its share of the year's refunds. */
  payeeEarnings: bigint;
  /** US 1099-NEC/MISC: payments of $2,000 or more (tax year 2026 on). */
  form1099Nec: boolean;
  /** US 1099-K: above $20,000 and above 200 transactions. */
  form1099K: boolean;
  /** EU DAC7: reportable unless under 30 sales and under €2,000. */
  dac7: boolean;
}

export interface FinanceOverview {
  currency: string;
  charges: number;
  /** Gross merchandise value: what customers paid. */
  gmv: bigint;
  /** The platform's share of charges, less its share of refunds (before processing fees). */
  platformRevenue: bigint;
  processingFees: bigint;
  refunds: bigint;
  refundCount: number;
  payoutsPaid: bigint;
  payoutCount: number;
  partnersPending: bigint;
  partnersAvailable: bigint;
  inTransit: bigint;
  owedByPartners: bigint;
  disputesHeld: bigint;
  disputeLosses: bigint;
  partnersHeld: number;
}

/** US and EU information-return thresholds, in minor units. */
export const TAX_THRESHOLDS = {
  form1099Nec: { currency: 'USD', amount: 200_000n },
  form1099K: { currency: 'USD', amount: 2_000_000n, transactions: 200 },
  dac7: { currency: 'EUR', amount: 200_000n, transactions: 30 },
} as const;

const csvCell = (v: unknown) => {
  const s = String(v ?? '');
  // Quote what needs it; a leading =,+,-,@ would run as a formula in spreadsheets.
  const safe = /^[=+\-@]/.test(s) && !/^-?\d/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
};
export const csvRow = (cells: unknown[]) => `${cells.map(csvCell).join(',')}\r\n`;

export function createStatements({ db, core }: { db: Db; core: LedgerCore }) {
  return {
    /** Pending, available, in-transit, paid and owed per currency of one partner. */
    async balances(party: string): Promise<PartnerBalance[]> {
      const accounts = await core.balancesOf(party);
      const paid = await db.query(
        `SELECT currency, sum(paid_amount)::text AS paid FROM ledger_partner_lines
         WHERE party = $1 AND state = 'paid' GROUP BY currency`,
        [party],
      );
      const byCurrency = new Map<string, PartnerBalance>();
      const of = (currency: string) => {
        let b = byCurrency.get(currency);
        if (!b) {
          b = { currency, pending: 0n, available: 0n, inTransit: 0n, paid: 0n, owed: 0n };
          byCurrency.set(currency, b);
        }
        return b;
      };
      for (const a of accounts) {
        const b = of(a.currency);
        if (a.account.kind === 'partner_pending') b.pending = a.balance;
        else if (a.account.kind === 'partner_payable') b.available = a.balance;
        else if (a.account.kind === 'partner_in_transit') b.inTransit = a.balance;
        else if (a.account.kind === 'receivable_from_partner') b.owed = a.balance;
      }
      for (const p of paid) of(p.currency).paid = BigInt(p.paid ?? 0);
      return [...byCurrency.values()].sort((a, b) => a.currency.localeCompare(b.currency));
    },

    /**
     * The partner's invoice lines in [from, to) as CSV: what each charge
     * came to, how it was split and by which rule, refunds, and the payout
     * that paid it.
     */
    async statementCsv(party: string, range: { from: Date; to: Date }): Promise<string> {
      const rows = await db.query(
        `SELECT l.*, c.charged_at, c.app_id, c.amount AS gross, c.processing_fee, c.rule, p.paid_at
         FROM ledger_partner_lines l
         JOIN ledger_charges c ON c.invoice_id = l.invoice_id
         LEFT JOIN ledger_payouts p ON p.id = l.payout_id
         WHERE l.party = $1 AND c.charged_at >= $2 AND c.charged_at < $3
         ORDER BY c.charged_at, l.invoice_id`,
        [party, range.from, range.to],
      );
      let out = csvRow([
        'charged_at',
        'invoice',
        'app',
        'role',
        'currency',
        'gross',
        'processing_fee',
        'your_share',
        'refunded',
        'netted',
        'rule',
        'state',
        'available_at',
        'payout',
        'paid_amount',
        'paid_at',
      ]);
      for (const r of rows) {
        const f = (v: unknown) =>
          v === null || v === undefined ? '' : formatMinor(BigInt(v as string), r.currency);
        out += csvRow([
          r.charged_at.toISOString(),
          r.invoice_id,
          r.app_id,
          r.role,
          r.currency,
          f(r.gross),
          f(r.processing_fee),
          f(r.amount),
          f(r.refunded),
          f(r.netted),
          r.rule.summary,
          r.state,
          r.available_at.toISOString(),
          r.payout_id ?? '',
          f(r.paid_amount),
          r.paid_at?.toISOString() ?? '',
        ]);
      }
      return out;
    },

    /**
     * Figures per payee and currency for a calendar year (UTC): gross,
     * transactions, fees, refunds and earnings, with the information returns
     * they reach. No currency conversion: US thresholds are checked on USD
     * figures, DAC7 on EUR figures.
     */
    async taxFigures(year: number, party?: string): Promise<TaxFigures[]> {
      const from = new Date(Date.UTC(year, 0, 1));
      const to = new Date(Date.UTC(year + 1, 0, 1));
      const rows = await db.query(
        `WITH payees AS (
           SELECT developer_org_id AS party, c.* FROM ledger_charges c
           UNION ALL SELECT agency_org_id AS party, c.* FROM ledger_charges c WHERE agency_org_id IS NOT NULL
         ),
         charged AS (
           SELECT p.party, p.currency, sum(p.amount) AS gross, count(*) AS n, sum(p.processing_fee) AS fees,
                  sum(l.amount) AS share
           FROM payees p JOIN ledger_partner_lines l ON l.invoice_id = p.invoice_id AND l.party = p.party
           WHERE p.charged_at >= $1 AND p.charged_at < $2 AND ($3::text IS NULL OR p.party = $3)
           GROUP BY 1, 2
         ),
         refunded AS (
           SELECT p.party, r.currency, sum(r.amount) AS refunds,
                  sum(coalesce((SELECT sum((x->>'amount')::bigint) FROM jsonb_array_elements(r.split->'partners') x
                                WHERE x->>'party' = p.party), 0)) AS share_back
           FROM ledger_refunds r JOIN payees p ON p.invoice_id = r.invoice_id
           WHERE r.created_at >= $1 AND r.created_at < $2 AND ($3::text IS NULL OR p.party = $3)
           GROUP BY 1, 2
         )
         SELECT coalesce(c.party, r.party) AS party, coalesce(c.currency, r.currency) AS currency,
                coalesce(c.gross, 0)::text AS gross, coalesce(c.n, 0)::int AS n, coalesce(c.fees, 0)::text AS fees,
                coalesce(r.refunds, 0)::text AS refunds,
                (coalesce(c.share, 0) - coalesce(r.share_back, 0))::text AS earnings
         FROM charged c FULL JOIN refunded r ON r.party = c.party AND r.currency = c.currency
         ORDER BY 1, 2`,
        [from, to, party ?? null],
      );
      return rows.map((r) => {
        const gross = BigInt(r.gross);
        const earnings = BigInt(r.earnings);
        const n = Number(r.n);
        const t = TAX_THRESHOLDS;
        return {
          party: r.party,
          year,
          currency: r.currency,
          gross,
          transactions: n,
          fees: BigInt(r.fees),
          refunds: BigInt(r.refunds),
          payeeEarnings: earnings,
          form1099Nec: r.currency === t.form1099Nec.currency && earnings >= t.form1099Nec.amount,
          form1099K:
            r.currency === t.form1099K.currency && gross > t.form1099K.amount && n > t.form1099K.transactions,
          dac7: r.currency === t.dac7.currency && !(n < t.dac7.transactions && gross < t.dac7.amount),
        };
      });
    },

    /**
     * The operator's figures per currency: over [from, to) GMV, platform
     * revenue, fees, refunds and payouts paid; now, what partners are due,
     * what disputes hold and what they cost.
     */
    async overview(range: { from: Date; to: Date }): Promise<FinanceOverview[]> {
      const [charges, refunds, paid, accounts, holds] = await Promise.all([
        db.query(
          `SELECT currency, count(*)::int AS n, sum(amount)::text AS gmv, sum(processing_fee)::text AS fees,
                  sum((parts->0->>'amount')::bigint)::text AS platform
           FROM ledger_charges WHERE charged_at >= $1 AND charged_at < $2 GROUP BY 1`,
          [range.from, range.to],
        ),
        db.query(
          `SELECT currency, count(*)::int AS n, sum(amount)::text AS amount,
                  sum((split->>'platform')::bigint)::text AS platform
           FROM ledger_refunds WHERE created_at >= $1 AND created_at < $2 GROUP BY 1`,
          [range.from, range.to],
        ),
        db.query(
          `SELECT currency, count(*)::int AS n, sum(amount)::text AS amount FROM ledger_payouts
           WHERE state = 'paid' AND paid_at >= $1 AND paid_at < $2 GROUP BY 1`,
          [range.from, range.to],
        ),
        db.query(
          `SELECT a.kind, a.currency, sum(b.balance)::text AS balance FROM ledger_accounts a
           JOIN ledger_balances b ON b.account_id = a.id
           WHERE a.kind IN ('partner_pending', 'partner_payable', 'partner_in_transit', 'disputes_held',
                            'dispute_losses', 'receivable_from_partner')
           GROUP BY 1, 2`,
        ),
        db.query('SELECT currency, count(*)::int AS n FROM ledger_payout_holds GROUP BY 1'),
      ]);
      const out = new Map<string, FinanceOverview>();
      const of = (currency: string) => {
        let o = out.get(currency);
        if (!o) {
          o = {
            currency,
            charges: 0,
            gmv: 0n,
            platformRevenue: 0n,
            processingFees: 0n,
            refunds: 0n,
            refundCount: 0,
            payoutsPaid: 0n,
            payoutCount: 0,
            partnersPending: 0n,
            partnersAvailable: 0n,
            inTransit: 0n,
            owedByPartners: 0n,
            disputesHeld: 0n,
            disputeLosses: 0n,
            partnersHeld: 0,
          };
          out.set(currency, o);
        }
        return o;
      };
      for (const c of charges) {
        const o = of(c.currency);
        o.charges = c.n;
        o.gmv = BigInt(c.gmv);
        o.processingFees = BigInt(c.fees);
        o.platformRevenue += BigInt(c.platform);
      }
      for (const r of refunds) {
        const o = of(r.currency);
        o.refunds = BigInt(r.amount);
        o.refundCount = r.n;
        o.platformRevenue -= BigInt(r.platform);
      }
      for (const p of paid) {
        const o = of(p.currency);
        o.payoutsPaid = BigInt(p.amount);
        o.payoutCount = p.n;
      }
      const field = {
        partner_pending: 'partnersPending',
        partner_payable: 'partnersAvailable',
        partner_in_transit: 'inTransit',
        receivable_from_partner: 'owedByPartners',
        disputes_held: 'disputesHeld',
        dispute_losses: 'disputeLosses',
      } as const;
      for (const a of accounts) of(a.currency)[field[a.kind as keyof typeof field]] = BigInt(a.balance);
      for (const h of holds) of(h.currency).partnersHeld = h.n;
      return [...out.values()].sort((a, b) => a.currency.localeCompare(b.currency));
    },

    taxCsv(figures: TaxFigures[]): string {
      let out = csvRow([
        'payee',
        'year',
        'currency',
        'gross',
        'transactions',
        'fees',
        'refunds',
        'payee_earnings',
        '1099_nec',
        '1099_k',
        'dac7',
      ]);
      for (const f of figures)
        out += csvRow([
          f.party,
          f.year,
          f.currency,
          formatMinor(f.gross, f.currency),
          f.transactions,
          formatMinor(f.fees, f.currency),
          formatMinor(f.refunds, f.currency),
          formatMinor(f.payeeEarnings, f.currency),
          f.form1099Nec ? 'yes' : 'no',
          f.form1099K ? 'yes' : 'no',
          f.dac7 ? 'yes' : 'no',
        ]);
      return out;
    },
  };
}
