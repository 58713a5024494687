/**
 * The ledger's ports: what other modules (payments first) call to record
 * money movements, and what the ledger needs from the payment provider side.
 *
 * Amounts are `bigint` minor units of an ISO 4217 currency written in upper
 * case (`USD`, `EUR`, `JPY`); the ledger's currency table gives each code its
 * exponent. Every amount the ledger accepts is strictly positive: the side of
 * an entry says which way the money moves, never the sign.
 *
 * Calls that write take the caller's transaction (`tx`), so a payment's own
 * rows and its ledger transaction commit together or not at all.
 */
import type { Tx } from '../../db/index.ts';

// Accounts -------------------------------------------------------------------

/**
 * What an account is for. Each kind has a normal side (where its balance
 * grows) and says whether it is per party and whether it may go negative.
 *
 * | kind                      | party               | normal | overdraft |
 * | ------------------------- | ------------------- | ------ | --------- |
 * | `provider_cash`           | provider (`stripe`, `sandbox`) | debit | allowed (a refund can pass the balance) |
 * | `customer_receivable`     | customer account org id | debit | allowed |
 * | `customer_credit_liability` | customer org id   | credit | refused |
 * | `receivable_from_partner` | partner org id      | debit  | refused (a partner never owes a negative) |
 * | `processing_fees`         | none                | debit  | allowed |
 * | `dispute_losses`          | none                | debit  | allowed |
 * | `platform_revenue`        | none                | credit | allowed (refunds reverse it) |
 * | `partner_pending`         | partner org id      | credit | refused |
 * | `partner_payable`         | partner org id      | credit | refused |
 * | `partner_in_transit`      | partner org id      | credit | refused |
 * | `disputes_held`           | partner org id      | credit | refused |
 *
 * - `customer_credit_liability`: deferred revenue: what a customer prepaid
 *   (credit top-ups) and has not used yet; moved to `platform_revenue` as the
 *   credits are spent.
 * - `partner_pending`: the partner's share of charges whose payout terms
 *   (net-15/net-30 after the charge settles) have not run out yet.
 * - `partner_payable`: available to pay out.
 * - `partner_in_transit`: taken out of payable by a payout run, transfer not
 *   yet confirmed by the provider; debited to `provider_cash` when the
 *   transfer is made, back to payable when it fails. The partner's "paid"
 *   total is what left this account towards the provider.
 * - `disputes_held`: the partner's share of a disputed charge, held until
 *   the dispute closes (won: back to pending/payable; lost: it offsets the
 *   platform's `dispute_losses`, where the disputed amount and the fee sit
 *   from the opening).
 * - `receivable_from_partner`: a reversal that could not be taken (the
 *   partner was already paid); netted from the partner's next payouts.
 */
export type LedgerAccountKind =
  | 'provider_cash'
  | 'customer_receivable'
  | 'customer_credit_liability'
  | 'receivable_from_partner'
  | 'processing_fees'
  | 'dispute_losses'
  | 'platform_revenue'
  | 'partner_pending'
  | 'partner_payable'
  | 'partner_in_transit'
  | 'disputes_held';

/** An account: its kind and, for per-party kinds, whose it is (an organization id or a provider name). */
export interface LedgerAccountRef {
  kind: LedgerAccountKind;
  /** Required for per-party kinds, absent for platform-wide ones. */
  party?: string;
}

export type Direction = 'debit' | 'credit';

export interface LedgerEntryInput {
  account: LedgerAccountRef;
  direction: Direction;
  /** Strictly positive minor units. */
  amount: bigint;
}

/** What happened outside the ledger that this transaction records. */
export interface SourceRef {
  /** `charge`, `refund`, `transfer`, `transfer_reversal`, `dispute`, `payout`, `adjustment`, ... */
  kind: string;
  /** Plaza's id of it (invoice id, refund id, payout id ...). */
  id: string;
  /**
   * The provider's id of the object that moved the platform's provider
   * balance (`ch_…`, `re_…`, `tr_…`, `trr_…`, `du_…`), when there is one.
   * Reconciliation matches `provider_cash` movements to the provider's
   * balance transactions by this id.
   */
  providerObjectId?: string;
}

export interface PostInput {
  /**
   * One key, one transaction. Posting again with the same key and the same
   * body returns the first transaction (`replayed: true`); with a different
   * body it fails with 409 PLAZA_CONFLICT. Use stable keys derived from the
   * source (`charge:{invoice}`, `refund:{refund}`, `xfer:{invoice}:{payee}`).
   */
  idempotencyKey: string;
  /** One currency per transaction; there is no conversion. */
  currency: string;
  /** When the movement happened (defaults to now). Refused inside a closed period. */
  effectiveAt?: Date;
  description: string;
  sourceRef: SourceRef;
  /** At least two entries; debits and credits must sum to the same amount. */
  entries: LedgerEntryInput[];
}

export interface PostResult {
  transactionId: string; // `ltx_…`
  /** True when the key had already been posted with this body and nothing new was written. */
  replayed: boolean;
}

// Revenue share --------------------------------------------------------------

export type PartnerRole = 'developer' | 'agency';

export interface SplitChargeInput {
  /** The gross amount the customer paid, minor units. */
  amount: bigint;
  currency: string;
  /** What the provider kept (its balance transaction's `fee`); 0n when unknown yet. */
  processingFee: bigint;
  /** The developer organization that owns the app. */
  developerOrgId: string;
  appId: string;
  /** The app's marketplace category (schedule rules can target one). */
  category?: string | null;
  /** The agency that sold it (sub-account installs), if any. */
  agencyOrgId?: string | null;
  /**
   * Resale: the part of `amount` that is the agency's markup over the
   * developer's price (0n or absent otherwise; needs `agencyOrgId`). It goes
   * to the agency, less its pro-rata part of the processing fee; the schedule
   * splits only the rest (the developer's price), and only that counts towards
   * the developer's lifetime revenue.
   */
  markup?: bigint;
  /** The charge's date; the schedule in force on that date applies. */
  at?: Date;
}

/** The rule of the revenue-share schedule that decided a split, as recorded with it. */
export interface AppliedRule {
  ruleId: string; // `rsr_…`
  /** `developer`, `category` or `default`: how specific the matched rule is. */
  scope: 'developer' | 'category' | 'default';
  /** Human summary: "0% up to 1,000,000.00 USD lifetime, then 15%". */
  summary: string;
  /** Platform share in basis points applied to each slice of the net. */
  slices: Array<{ amount: bigint; platformBps: number }>;
  /** The agency's part of the platform share, in basis points of the platform share. */
  agencyBps: number;
  effectiveFrom: string; // ISO date
}

export interface SplitPart {
  role: 'platform' | PartnerRole;
  /** Organization id for partners; absent for the platform. */
  party?: string;
  amount: bigint;
  /** The agency's part: how much of `amount` is its resale markup (the rest is its schedule share). */
  markup?: bigint;
}

/**
 * How a charge is split. Invariant: `processingFee + sum(parts) === amount`
 * exactly (largest-remainder rounding). Shares are taken from the net
 * (amount minus processing fee): the platform pays the provider's fee out of
 * the gross before anyone is paid.
 */
export interface Split {
  amount: bigint;
  currency: string;
  processingFee: bigint;
  parts: SplitPart[];
  rule: AppliedRule;
}

export interface RecordChargeInput extends SplitChargeInput {
  /** Plaza's invoice id: the idempotency key is `charge:{invoiceId}`. */
  invoiceId: string;
  /** Provider charge id (`ch_…`), matched by reconciliation. */
  providerChargeId: string;
  provider: string; // 'stripe' | 'sandbox'
  /** The customer account (organization) that paid. */
  customerOrgId: string;
  /** When the funds are available on the provider balance (balance transaction `available_on`). */
  settlesAt: Date;
  description?: string;
}

export interface RecordChargeResult extends PostResult {
  split: Split;
}

export interface RecordRefundInput {
  /** Plaza's refund id: the idempotency key is `refund:{refundId}`. */
  refundId: string;
  invoiceId: string;
  providerRefundId: string;
  provider: string;
  /** Minor units refunded to the customer (partial or full). */
  amount: bigint;
  currency: string;
  /** Part of the original processing fee the provider gave back, if any. */
  feeReturned?: bigint;
  effectiveAt?: Date;
}

/**
 * A refund split pro rata at the original charge's rates (never today's
 * schedule). `partners[i].fromBalance` is what the ledger took back from the
 * partner's unpaid balance; `partners[i].fromTransfer` is what was already
 * transferred and must be reversed on the provider (`rev:{refund}:{transfer}`)
 * or, failing that, stays a receivable from the partner (`receivableFromPartner`).
 */
export interface RefundSplit {
  amount: bigint;
  currency: string;
  platform: bigint;
  partners: Array<{
    role: PartnerRole;
    party: string;
    amount: bigint;
    fromBalance: bigint;
    fromTransfer: bigint;
    /** The provider transfers (`tr_…`) that carried this partner's share of the invoice. */
    transfers: Array<{ transferId: string; amount: bigint }>;
  }>;
}

export interface RecordRefundResult extends PostResult {
  split: RefundSplit;
}

// What payments calls --------------------------------------------------------

export interface LedgerPort {
  /** Posts one balanced transaction in `tx` (see PostInput for the rules). */
  post(tx: Tx, input: PostInput): Promise<PostResult>;

  /** The split of a charge under the schedule in force at `input.at` (pure read, nothing written). */
  splitCharge(input: SplitChargeInput, tx?: Tx): Promise<Split>;

  /**
   * Records a succeeded charge: splits it and posts
   * debit provider_cash (net) + processing_fees (fee),
   * credit platform_revenue (platform part) + partner_pending (each partner part),
   * and remembers the split and each partner's payout date (settlesAt + net terms).
   * Idempotent on the invoice.
   */
  recordCharge(tx: Tx, input: RecordChargeInput): Promise<RecordChargeResult>;

  /**
   * Records a refund split at the original charge's rates. Takes each
   * partner's part back from pending/payable first; what was already
   * transferred is returned in `fromTransfer` for payments to reverse
   * (then call `recordTransferReversal`), and counted as a receivable from
   * the partner until then.
   */
  recordRefund(tx: Tx, input: RecordRefundInput): Promise<RecordRefundResult>;

  /**
   * A reversal of a partner transfer went through on the provider: the
   * receivable from the partner is settled. Idempotent on `rev:{refundId}:{transferId}`.
   */
  recordTransferReversal(
    tx: Tx,
    input: {
      refundId: string;
      transferId: string;
      providerReversalId: string;
      provider: string;
      partnerOrgId: string;
      amount: bigint;
      currency: string;
    },
  ): Promise<PostResult>;

  /**
   * A dispute of an invoice's charge moved (payments calls it from
   * `charge.dispute.created` / `.closed`, each event once). `opened`: the
   * provider took `amount` + `fee` from the platform balance; each partner's
   * share of `amount` (at the charge's rates) moves to `disputes_held`.
   * `won`: the provider gave `amount` back; the held shares return to the
   * partners. `lost`: the held shares go to the loss. Idempotent on
   * `dispute:{disputeId}:{phase}`. The fee stays the platform's loss
   * whatever the outcome; a lost dispute takes each partner's share as a
   * refund would (a receivable for what was already paid out). A `won` or
   * `lost` seen before `opened` posts the opening first.
   */
  recordDispute(tx: Tx, input: RecordDisputeInput): Promise<PostResult>;
}

export interface RecordDisputeInput {
  /** The provider's dispute id (`dp_…`). */
  disputeId: string;
  invoiceId: string;
  provider: string;
  phase: 'opened' | 'won' | 'lost';
  /** Disputed amount, minor units. */
  amount: bigint;
  /** What the provider charged for the dispute (kept by it whatever the outcome). */
  fee: bigint;
  currency: string;
}

// What the ledger needs from payments ----------------------------------------

/** Whether a partner can be paid now, and why not. */
export interface PayoutAccountStatus {
  /** True when the connected account can receive transfers (payouts enabled). */
  canReceive: boolean;
  /** Why not, in words shown to the partner and the operator ("Onboarding not finished", "Bank account needs verification by 2026-12-20"). */
  reason?: string;
  /** The provider's connected account id (`acct_…`) when there is one. */
  providerAccountId?: string;
  /**
   * The connected account's balance per currency on the provider, when known.
   * A negative balance means the partner is never paid out until it is back up.
   */
  providerBalance?: Array<{ currency: string; amount: bigint }>;
}

export interface TransferRequest {
  /** `xfer:{invoice}:{payee}`: the provider dedupes retries on it. */
  idempotencyKey: string;
  partnerOrgId: string;
  destinationAccountId: string;
  amount: bigint;
  currency: string;
  /** `transfer_group` = the invoice id. */
  transferGroup: string;
  /** `source_transaction` = the provider charge id, when the transfer funds from one charge. */
  sourceTransaction?: string;
  metadata?: Record<string, string>;
}

/** One entry of the provider's balance history (Stripe balance transactions). */
export interface ProviderBalanceTransaction {
  id: string; // `txn_…`
  /** `charge`, `refund`, `transfer`, `transfer_cancel`, `transfer_refund` (reversal), `adjustment`, `payout`, ... */
  type: string;
  /** The object that moved the balance (`ch_…`, `re_…`, `tr_…`, `trr_…`). */
  source: string;
  /** Signed minor units, as on the provider: gross, fee and net (= amount - fee). */
  amount: bigint;
  fee: bigint;
  net: bigint;
  currency: string; // upper case
  created: Date;
}

/**
 * Implemented by payments' provider adapters (Stripe and sandbox). The ledger
 * gets it through `ledger.usePayoutProvider(port)` once both services exist.
 */
export interface PayoutProviderPort {
  /** Provider name recorded on ledger accounts (`stripe`, `sandbox`). */
  readonly name: string;
  accountStatus(partnerOrgId: string): Promise<PayoutAccountStatus>;
  /** Creates (or, on a retried key, returns) a transfer to a connected account. Throws on refusal. */
  transfer(req: TransferRequest): Promise<{ transferId: string }>;
  /** The platform balance's transactions created in [from, to), oldest first. */
  balanceTransactions(range: { from: Date; to: Date }): AsyncIterable<ProviderBalanceTransaction>;
}

// Events the ledger emits ----------------------------------------------------

/**
 * Event types registered by the ledger in the event catalog. Payout events
 * belong to the partner's organization and need scope `payouts:read`.
 * Amounts in event payloads are integer minor units (JSON numbers) with `currency`.
 */
export const LEDGER_EVENTS = {
  /** A payout run created a payout for a partner (amount, lines, invoice ids). */
  payoutCreated: 'payout.created',
  /** Every transfer of a payout went through. */
  payoutPaid: 'payout.paid',
  /** A transfer was refused; the amount is back in the partner's available balance. */
  payoutFailed: 'payout.failed',
  /** The partner is eligible but could not be paid (reason: account cannot receive, negative provider balance ...). */
  payoutHeld: 'payout.held',
} as const;
