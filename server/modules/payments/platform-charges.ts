import { z } from 'zod';
import type { Db, Tx } from '../../db/index.ts';
import { invalid, notFound } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { Logger } from '../../logger.ts';
import type { EventsService } from '../events/index.ts';
import { isCurrency, type LedgerService } from '../ledger/index.ts';
import { type PaymentProvider, type ProviderCharge, ProviderRefusal } from './provider.ts';
import type { EventHandler } from './provider-events.ts';

/**
 * The platform charging its own customers (plugins' plans and credits), as
 * opposed to app purchases (subscriptions.ts): a hosted checkout that also
 * saves the card, and off-session charges of that card. A success is
 * recorded in the ledger (provider cash and fee against platform revenue, or
 * against the customer's receivable when the charge `settles` it: an invoice
 * booked when it was issued) and announced as `platform_charge.succeeded` in the same transaction; a
 * declined saved-card charge as `platform_charge.failed`.
 */
export const PLATFORM_CHARGE_EVENTS = {
  succeeded: 'platform_charge.succeeded',
  failed: 'platform_charge.failed',
} as const;

const Payload = z.object({
  /** Who asked for the charge (`plugin:billing`); only its `reference`s are its own. */
  owner: z.string(),
  reference: z.string(),
  chargeId: z.string().nullable(),
  amount: z.number().int().describe('Minor units'),
  currency: z.string(),
  reason: z.string().optional(),
  /** Present when the charge settled this receivable (its credit side) instead of booking revenue. */
  settles: z
    .object({ kind: z.enum(['customer_receivable', 'customer_credit_liability']), party: z.string() })
    .optional(),
});

export const PLATFORM_CHARGE_EVENT_TYPES = [
  {
    type: PLATFORM_CHARGE_EVENTS.succeeded,
    description: 'An organization paid the platform (a plan, credits): checkout or saved card.',
    scope: null,
    payload: Payload,
  },
  {
    type: PLATFORM_CHARGE_EVENTS.failed,
    description: 'A charge of an organization’s saved card for the platform was declined.',
    scope: null,
    payload: Payload,
  },
];

export interface PlatformChargeRequest {
  /** `plugin:<name>`: references are unique per owner. */
  owner: string;
  organizationId: string;
  amount: bigint;
  currency: string;
  description: string;
  reference: string;
  /** The charge pays this receivable (booked by the owner when it invoiced): credit it, not revenue. */
  settles?: Settles;
}

export interface Settles {
  /** The receivable it pays, or the deferred revenue of a prepayment (credits). */
  kind: 'customer_receivable' | 'customer_credit_liability';
  party: string;
}

const SETTLES_KINDS = ['customer_receivable', 'customer_credit_liability'];

const settlesOf = (row: Row): Settles | undefined =>
  row.settles_party ? { kind: row.settles_kind, party: row.settles_party } : undefined;

type Row = Record<string, any>;

export function createPlatformCharges(deps: {
  db: Db;
  log: Logger;
  provider: PaymentProvider;
  ledger: LedgerService;
  events: EventsService;
}) {
  const { db, log, provider, ledger, events } = deps;

  function check(input: PlatformChargeRequest) {
    if (typeof input.amount !== 'bigint' || input.amount <= 0n)
      throw invalid('amount', 'must be a positive bigint of minor units');
    if (!isCurrency(input.currency)) throw invalid('currency', 'must be an ISO 4217 code in upper case');
    if (!input.reference || input.reference.length > 200)
      throw invalid('reference', 'must be 1-200 characters');
    if (input.settles !== undefined) {
      if (!SETTLES_KINDS.includes(input.settles?.kind as string))
        throw invalid('settles.kind', `must be one of ${SETTLES_KINDS.join(', ')}`);
      // The payer settles its own receivable; another organization's would move its debt silently.
      if (input.settles.party !== input.organizationId)
        throw invalid('settles.party', 'must be the organization that pays (organizationId)');
    }
  }

  /** The row for (owner, reference), created on first ask; the same ask again returns it. */
  async function rowFor(input: PlatformChargeRequest, kind: 'checkout' | 'saved_method'): Promise<Row> {
    check(input);
    await db.query(
      `INSERT INTO payments_platform_charges
         (id, owner, reference, organization_id, kind, amount, currency, description, status, provider,
          settles_party, settles_kind)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10, $11) ON CONFLICT (owner, reference) DO NOTHING`,
      [
        newId('pch'),
        input.owner,
        input.reference,
        input.organizationId,
        kind,
        input.amount,
        input.currency,
        input.description,
        provider.name,
        input.settles?.party ?? null,
        input.settles?.kind ?? null,
      ],
    );
    // A charge asked for before `settles` existed takes it while still open (same page, same key).
    if (input.settles)
      await db.query(
        `UPDATE payments_platform_charges SET settles_party = $3, settles_kind = $4
         WHERE owner = $1 AND reference = $2 AND status = 'open' AND settles_party IS NULL`,
        [input.owner, input.reference, input.settles.party, input.settles.kind],
      );
    const row = await db.one('SELECT * FROM payments_platform_charges WHERE owner = $1 AND reference = $2', [
      input.owner,
      input.reference,
    ]);
    if (
      row.organization_id !== input.organizationId ||
      BigInt(row.amount) !== input.amount ||
      row.currency !== input.currency ||
      row.kind !== kind ||
      (input.settles &&
        (row.settles_party !== input.settles.party || row.settles_kind !== input.settles.kind))
    )
      throw invalid('reference', `was already used for another charge (${row.id})`);
    return row;
  }

  const payload = (row: Row, chargeId: string | null, reason?: string) => ({
    owner: row.owner,
    reference: row.reference,
    chargeId,
    amount: Number(row.amount),
    currency: row.currency,
    ...(reason ? { reason } : {}),
    ...(settlesOf(row) ? { settles: settlesOf(row) } : {}),
  });

  /** Records a success once: the row, the saved card, the ledger transaction and the event. */
  async function settle(
    tx: Tx,
    id: string,
    charge: ProviderCharge,
    card: { customerId: string | null; paymentMethodId: string | null },
  ): Promise<void> {
    const row = await tx.one('SELECT * FROM payments_platform_charges WHERE id = $1 FOR UPDATE', [id]);
    if (row.status === 'succeeded') return;
    await tx.query(
      `UPDATE payments_platform_charges SET status = 'succeeded', provider_charge_id = $2, failure = NULL,
         settled_at = now() WHERE id = $1`,
      [id, charge.chargeId],
    );
    if (card.customerId && card.paymentMethodId)
      await tx.query(
        `INSERT INTO payments_platform_methods (organization_id, provider, customer_id, payment_method_id)
         VALUES ($1, $2, $3, $4) ON CONFLICT (organization_id) DO UPDATE
           SET provider = $2, customer_id = $3, payment_method_id = $4, updated_at = now()`,
        [row.organization_id, provider.name, card.customerId, card.paymentMethodId],
      );
    const fee = charge.fee > 0n && charge.fee < charge.amount ? charge.fee : 0n;
    await ledger.post(tx, {
      idempotencyKey: `platform_charge:${id}`,
      currency: charge.currency,
      description: `${row.description} (${row.owner})`,
      sourceRef: { kind: 'platform_charge', id, providerObjectId: charge.chargeId },
      entries: [
        {
          account: { kind: 'provider_cash', party: provider.name },
          direction: 'debit',
          amount: charge.amount - fee,
        },
        ...(fee
          ? [{ account: { kind: 'processing_fees' as const }, direction: 'debit' as const, amount: fee }]
          : []),
        settlesOf(row)
          ? { account: settlesOf(row)!, direction: 'credit', amount: charge.amount }
          : { account: { kind: 'platform_revenue' }, direction: 'credit', amount: charge.amount },
      ],
    });
    await events.emit(
      tx,
      row.organization_id,
      PLATFORM_CHARGE_EVENTS.succeeded,
      payload(row, charge.chargeId),
    );
  }

  /** `checkout.session.completed` of a platform checkout (other sessions are not ours: null). */
  const onCheckoutCompleted: EventHandler = async (event) => {
    const row = await db.maybeOne('SELECT id FROM payments_platform_charges WHERE checkout_session_id = $1', [
      event.objectId,
    ]);
    if (!row) return null;
    const session = await provider.retrieveCheckout(event.objectId);
    if (session.status !== 'complete' || !session.paymentIntentId) return null;
    const charge = await provider.retrieveCharge(session.paymentIntentId);
    return (tx) =>
      settle(tx, row.id, charge, {
        customerId: session.customerId,
        paymentMethodId: session.paymentMethodId,
      });
  };

  return {
    onCheckoutCompleted,

    /** A hosted payment page for one amount; paying it saves the card for `chargeSavedMethod`. */
    async checkout(
      input: PlatformChargeRequest & { successUrl: string; cancelUrl: string },
    ): Promise<{ sessionId: string; url: string }> {
      const row = await rowFor(input, 'checkout');
      if (row.checkout_session_id) return { sessionId: row.checkout_session_id, url: row.checkout_url };
      const saved = await db.maybeOne(
        'SELECT customer_id FROM payments_platform_methods WHERE organization_id = $1 AND provider = $2',
        [input.organizationId, provider.name],
      );
      const session = await provider.createCheckout({
        idempotencyKey: `platform-checkout:${row.id}`,
        mode: 'payment',
        amount: input.amount,
        currency: input.currency,
        description: input.description,
        transferGroup: row.id,
        saveCard: true,
        customerId: saved?.customer_id ?? null,
        successUrl: input.successUrl,
        cancelUrl: input.cancelUrl,
        metadata: { plaza_platform_charge: row.id, plaza_account: input.organizationId },
      });
      await db.query(
        'UPDATE payments_platform_charges SET checkout_session_id = $2, checkout_url = $3 WHERE id = $1',
        [row.id, session.sessionId, session.url],
      );
      return { sessionId: session.sessionId, url: session.url };
    },

    /**
     * Charges the organization's saved card. Idempotent on the reference: a
     * retry returns the first outcome and never charges twice (the provider
     * dedupes on the same key if the first answer was lost).
     */
    async chargeSavedMethod(input: PlatformChargeRequest): Promise<{
      status: 'succeeded' | 'failed';
      chargeId?: string;
      failureReason?: string;
      settles?: Settles;
    }> {
      const row = await rowFor(input, 'saved_method');
      const settles = settlesOf(row);
      if (row.status === 'succeeded')
        return { status: 'succeeded', chargeId: row.provider_charge_id, ...(settles ? { settles } : {}) };
      if (row.status === 'failed') return { status: 'failed', failureReason: row.failure };
      const card = await db.maybeOne(
        'SELECT * FROM payments_platform_methods WHERE organization_id = $1 AND provider = $2',
        [input.organizationId, provider.name],
      );
      const fail = async (reason: string) => {
        await db.transaction(async (tx) => {
          const r = await tx.maybeOne(
            `UPDATE payments_platform_charges SET status = 'failed', failure = $2, settled_at = now()
             WHERE id = $1 AND status = 'open' RETURNING *`,
            [row.id, reason],
          );
          // A concurrent retry recorded the outcome first.
          if (r)
            await events.emit(tx, r.organization_id, PLATFORM_CHARGE_EVENTS.failed, payload(r, null, reason));
        });
        return { status: 'failed' as const, failureReason: reason };
      };
      if (!card) return fail('No saved payment method: pay once through a checkout first.');
      let charge: ProviderCharge;
      try {
        charge = await provider.chargeSavedCard({
          idempotencyKey: `platform-charge:${row.id}`,
          customerId: card.customer_id,
          paymentMethodId: card.payment_method_id,
          amount: input.amount,
          currency: input.currency,
          description: input.description,
          transferGroup: row.id,
          metadata: { plaza_platform_charge: row.id, plaza_account: input.organizationId },
        });
      } catch (err) {
        if (!(err instanceof ProviderRefusal)) throw err;
        log.info({ charge: row.id, code: err.code }, 'payments: platform charge declined');
        return fail(err.message);
      }
      await db.transaction((tx) => settle(tx, row.id, charge, { customerId: null, paymentMethodId: null }));
      return { status: 'succeeded', chargeId: charge.chargeId, ...(settles ? { settles } : {}) };
    },

    /** One charge by the owner's reference (tests, support). */
    async byReference(owner: string, reference: string) {
      const row = await db.maybeOne(
        'SELECT * FROM payments_platform_charges WHERE owner = $1 AND reference = $2',
        [owner, reference],
      );
      if (!row) throw notFound('platform charge');
      return {
        id: row.id as string,
        status: row.status as 'open' | 'succeeded' | 'failed',
        amount: BigInt(row.amount),
        currency: row.currency as string,
        chargeId: (row.provider_charge_id as string | null) ?? null,
      };
    },
  };
}

export type PlatformCharges = ReturnType<typeof createPlatformCharges>;
