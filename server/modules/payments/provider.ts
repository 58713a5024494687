/**
 * The payment-provider port: everything payments asks of a provider, in
 * Plaza's words. Two adapters implement it: Stripe (the real SDK) and the
 * embedded sandbox (no keys; behaves like Stripe test mode and says so).
 *
 * Amounts are integer minor units (`bigint`) with an upper-case ISO currency.
 * Every call that creates something takes an idempotency key, so a retry
 * after a lost answer returns the first result instead of moving money twice.
 */
import type { ProviderBalanceTransaction, TransferRequest } from '../ledger/index.ts';

export type ProviderName = 'stripe' | 'sandbox';

/** A connected account's state as the provider reports it. */
export interface ProviderAccount {
  accountId: string;
  /** The account can receive transfers (Stripe: the recipient configuration's transfers capability). */
  transfersActive: boolean;
  payoutsEnabled: boolean;
  chargesEnabled: boolean;
  detailsSubmitted: boolean;
  /** Requirement names due now, and those already past their deadline. */
  currentlyDue: string[];
  pastDue: string[];
  /** When what is due must be provided before the account is restricted. */
  deadline: Date | null;
  /** The provider's reason the account is restricted, if it is. */
  disabledReason: string | null;
}

export interface CheckoutRequest {
  idempotencyKey: string;
  /** `payment` charges `amount`; `setup` only saves a card (usage-priced apps, charged later). */
  mode: 'payment' | 'setup';
  /** Minor units; 0n in setup mode. */
  amount: bigint;
  currency: string;
  /** What the customer sees on the payment page. */
  description: string;
  /** `transfer_group` of the charge: the invoice id. */
  transferGroup: string;
  /** Keep the card for renewals and usage charges. */
  saveCard: boolean;
  customerId?: string | null;
  customerEmail?: string | null;
  successUrl: string;
  cancelUrl: string;
  metadata: Record<string, string>;
}

export interface CheckoutSession {
  sessionId: string;
  url: string;
  status: 'open' | 'complete' | 'expired';
  paid: boolean;
  customerId: string | null;
  paymentIntentId: string | null;
  /** The card the customer used or saved. */
  paymentMethodId: string | null;
  metadata: Record<string, string>;
}

/** A succeeded charge with what the provider kept. */
export interface ProviderCharge {
  chargeId: string;
  paymentIntentId: string | null;
  amount: bigint;
  currency: string;
  /** Processing fee the provider kept (its balance transaction's fee). */
  fee: bigint;
  /** When the funds are available on the platform balance. */
  availableOn: Date;
  amountRefunded: bigint;
  customerId: string | null;
  paymentMethodId: string | null;
  transferGroup: string | null;
  metadata: Record<string, string>;
}

export interface ProviderDispute {
  disputeId: string;
  chargeId: string;
  amount: bigint;
  /** The provider's dispute fee. */
  fee: bigint;
  currency: string;
  /** `needs_response`, `under_review`, `won`, `lost`, ... */
  status: string;
  reason: string;
}

/** An event the provider sent (Stripe webhooks) or raised (sandbox). Handlers fetch the object it names. */
export interface ProviderEvent {
  id: string;
  type: string;
  objectId: string;
  /** The connected account the event is about (Connect events). */
  account: string | null;
  created: Date;
}

/** The provider refused (a decline, insufficient funds ...): a stable code and its words. */
export class ProviderRefusal extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'ProviderRefusal';
    this.code = code;
  }
}

export interface PaymentProvider {
  readonly name: ProviderName;
  /** `live` or `test` for Stripe (from the key), always `sandbox` for the sandbox. */
  readonly mode: 'live' | 'test' | 'sandbox';

  /** A connected account in the recipient configuration with the Express dashboard. */
  createRecipientAccount(input: {
    idempotencyKey: string;
    displayName: string;
    email: string | null;
    country: string;
    metadata: Record<string, string>;
  }): Promise<{ accountId: string }>;
  /** A single-use, short-lived onboarding link. */
  createOnboardingLink(input: {
    accountId: string;
    refreshUrl: string;
    returnUrl: string;
  }): Promise<{ url: string; expiresAt: Date }>;
  retrieveAccount(accountId: string): Promise<ProviderAccount>;
  /** The connected account's own balance per currency (negative after a loss it carries). */
  accountBalance(accountId: string): Promise<Array<{ currency: string; amount: bigint }>>;

  createCheckout(input: CheckoutRequest): Promise<CheckoutSession>;
  retrieveCheckout(sessionId: string): Promise<CheckoutSession>;
  /** Charges a saved card without the customer present; throws ProviderRefusal on a decline. */
  chargeSavedCard(input: {
    idempotencyKey: string;
    customerId: string;
    paymentMethodId: string;
    amount: bigint;
    currency: string;
    description: string;
    transferGroup: string;
    metadata: Record<string, string>;
  }): Promise<ProviderCharge>;
  retrieveCharge(chargeIdOrPaymentIntentId: string): Promise<ProviderCharge>;

  /** Transfers to a connected account (`source_transaction` = the charge when given). */
  transfer(req: TransferRequest): Promise<{ transferId: string }>;
  /** Takes part of a transfer back; ProviderRefusal `balance_insufficient` when the partner was already paid out. */
  reverseTransfer(input: {
    idempotencyKey: string;
    transferId: string;
    amount: bigint;
    metadata: Record<string, string>;
  }): Promise<{ reversalId: string }>;
  refund(input: {
    idempotencyKey: string;
    chargeId: string;
    amount: bigint;
    metadata: Record<string, string>;
  }): Promise<{ refundId: string; status: string }>;
  retrieveDispute(disputeId: string): Promise<ProviderDispute>;

  /** The platform balance's transactions created in [from, to), oldest first. */
  balanceTransactions(range: { from: Date; to: Date }): AsyncIterable<ProviderBalanceTransaction>;
}
