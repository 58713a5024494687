import { randomBytes } from 'node:crypto';
import type { Db, Queryable } from '../../db/index.ts';
import { conflict, notFound } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { ProviderBalanceTransaction, TransferRequest } from '../ledger/index.ts';
import {
  type CheckoutSession,
  type PaymentProvider,
  type ProviderAccount,
  type ProviderCharge,
  type ProviderEvent,
  ProviderRefusal,
} from './provider.ts';

/**
 * The embedded sandbox provider: what `npm start` uses with no Stripe key.
 * It behaves like Stripe test mode (accounts onboarded through single-use
 * links, a hosted payment page, fees, transfers, reversals, refunds, balance
 * transactions) and keeps its objects in PostgreSQL, so the whole money flow
 * runs on a bare machine. Nothing it does moves real money; every id carries
 * `sbx` and every answer about it says `sandbox`.
 *
 * Its hosted pages are Plaza web pages (`/sandbox/onboarding/:token`,
 * `/sandbox/checkout/:id`) that call back into `completeOnboarding` and `pay`.
 * It raises events like Stripe's, handed to `onEvent` after they commit.
 */
type Obj = Record<string, any>;
/** A transaction that also collects the events raised inside it (sent once it commits). */
type Q = Queryable & { raise(type: string, objectId: string, account?: string): void };

/** Stripe's US card pricing, so sandbox fees look like test mode's. */
const fee = (amount: number) => Math.round(amount * 0.029) + 30;
/** The card number that declines (as Stripe's test card 4000 0000 0000 0002). */
export const SANDBOX_DECLINING_CARD = '4000000000000002';
const LINK_TTL_MS = 5 * 60_000;
/** Stripe's US dispute fee, in cents. */
const SANDBOX_DISPUTE_FEE = 1500;

export function createSandboxProvider(deps: { db: Db; baseUrl: string }) {
  const { db, baseUrl } = deps;
  let onEvent: (e: ProviderEvent) => Promise<unknown> = async () => {};
  const sid = (prefix: string) => newId(`${prefix}_sbx`);

  async function get(q: Queryable, id: string, kind: string): Promise<Obj> {
    const row = await q.maybeOne('SELECT data FROM payments_sandbox_objects WHERE id = $1 AND kind = $2', [
      id,
      kind,
    ]);
    if (!row) throw notFound(`sandbox ${kind.replaceAll('_', ' ')} ${id}`);
    return row.data;
  }
  async function put(q: Queryable, kind: string, data: Obj): Promise<Obj> {
    await q.query(
      `INSERT INTO payments_sandbox_objects (id, kind, data) VALUES ($1, $2, $3)
       ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data`,
      [data.id, kind, JSON.stringify(data)],
    );
    return data;
  }
  /** Runs `create` once per key; a retry returns the first object. */
  async function once(key: string, kind: string, create: (q: Q) => Promise<Obj>): Promise<Obj> {
    const events: ProviderEvent[] = [];
    const result = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sbx:${key}`]);
      const seen = await tx.maybeOne('SELECT data FROM payments_sandbox_objects WHERE id = $1', [
        `idem:${key}`,
      ]);
      if (seen) return get(tx, seen.data.result, kind);
      const obj = await create(withEvents(tx, events));
      await put(tx, 'idempotency_key', { id: `idem:${key}`, result: obj.id });
      return obj;
    });
    await deliver(events);
    return result;
  }
  /** A transaction handle that also collects the events raised inside it. */
  function withEvents(q: Queryable, events: ProviderEvent[]): Q {
    return {
      ...q,
      raise: (type, objectId, account) =>
        events.push({ id: newId('evt_sbx'), type, objectId, account: account ?? null, created: new Date() }),
    };
  }
  async function mutate<T>(fn: (q: Q) => Promise<T>): Promise<T> {
    const events: ProviderEvent[] = [];
    const result = await db.transaction((tx) => fn(withEvents(tx, events)));
    await deliver(events);
    return result;
  }
  async function deliver(events: ProviderEvent[]) {
    for (const e of events) await onEvent(e);
  }

  async function balanceTx(q: Queryable, owner: string, fields: Obj) {
    return put(q, 'balance_transaction', {
      id: sid('txn'),
      owner,
      created: Date.now(),
      fee: 0,
      ...fields,
      net: fields.amount - (fields.fee ?? 0),
    });
  }
  async function balanceOf(q: Queryable, owner: string, currency: string): Promise<number> {
    const row = await q.one(
      `SELECT coalesce(sum((data->>'net')::bigint), 0)::text AS sum FROM payments_sandbox_objects
       WHERE kind = 'balance_transaction' AND data->>'owner' = $1 AND data->>'currency' = $2`,
      [owner, currency],
    );
    return Number(row.sum);
  }

  function accountView(a: Obj): ProviderAccount {
    const active = a.onboarded === true;
    return {
      accountId: a.id,
      transfersActive: active,
      payoutsEnabled: active,
      chargesEnabled: false,
      detailsSubmitted: a.detailsSubmitted === true,
      currentlyDue: active
        ? []
        : ['individual.first_name', 'individual.last_name', 'external_account', 'tos_acceptance.date'],
      pastDue: [],
      deadline: null,
      disabledReason: null,
    };
  }
  function sessionView(s: Obj): CheckoutSession {
    return {
      sessionId: s.id,
      url: `${baseUrl}/sandbox/checkout/${s.id}`,
      status: s.status,
      paid: s.status === 'complete' && s.mode !== 'setup',
      customerId: s.customerId ?? null,
      paymentIntentId: s.paymentIntentId ?? null,
      paymentMethodId: s.paymentMethodId ?? null,
      metadata: s.metadata ?? {},
    };
  }
  function chargeView(c: Obj): ProviderCharge {
    return {
      chargeId: c.id,
      paymentIntentId: c.paymentIntentId,
      amount: BigInt(c.amount),
      currency: c.currency,
      fee: BigInt(c.fee),
      availableOn: new Date(c.created),
      amountRefunded: BigInt(c.amountRefunded),
      customerId: c.customerId ?? null,
      paymentMethodId: c.paymentMethodId ?? null,
      transferGroup: c.transferGroup ?? null,
      metadata: c.metadata ?? {},
    };
  }

  /** Charges `amount` with a card: a decline raises payment_intent.payment_failed and throws. */
  async function charge(
    q: Q,
    p: {
      amount: number;
      currency: string;
      customerId: string | null;
      paymentMethod: Obj;
      transferGroup: string;
      metadata: Obj;
    },
  ) {
    const piId = sid('pi');
    if (p.paymentMethod.declines) {
      await put(q, 'payment_intent', {
        id: piId,
        status: 'requires_payment_method',
        amount: p.amount,
        currency: p.currency,
      });
      q.raise('payment_intent.payment_failed', piId);
      return null;
    }
    const f = fee(p.amount);
    const c = await put(q, 'charge', {
      id: sid('ch'),
      paymentIntentId: piId,
      amount: p.amount,
      currency: p.currency,
      fee: f,
      amountRefunded: 0,
      customerId: p.customerId,
      paymentMethodId: p.paymentMethod.id,
      transferGroup: p.transferGroup,
      metadata: p.metadata,
      created: Date.now(),
    });
    await put(q, 'payment_intent', {
      id: piId,
      status: 'succeeded',
      amount: p.amount,
      currency: p.currency,
      chargeId: c.id,
    });
    await balanceTx(q, 'platform', {
      type: 'charge',
      source: c.id,
      amount: p.amount,
      fee: f,
      currency: p.currency,
    });
    q.raise('charge.succeeded', c.id);
    q.raise('payment_intent.succeeded', piId);
    return c;
  }

  const provider: PaymentProvider & {
    setEventSink(fn: (e: ProviderEvent) => Promise<unknown>): void;
    onboardingLinkInfo(token: string): Promise<{
      accountId: string;
      displayName: string;
      state: string;
      expired: boolean;
      refreshUrl: string;
    }>;
    finishOnboarding(token: string, submit: boolean): Promise<{ redirect: string }>;
    checkoutInfo(sessionId: string): Promise<{
      sessionId: string;
      amount: number;
      currency: string;
      description: string;
      status: string;
      cancelUrl: string;
    }>;
    pay(sessionId: string, card: string): Promise<{ paid: boolean; redirect: string | null }>;
    openDispute(
      chargeId: string,
      input: { amount?: number; reason?: string },
    ): Promise<{ disputeId: string }>;
    closeDispute(disputeId: string, outcome: 'won' | 'lost'): Promise<void>;
  } = {
    name: 'sandbox',
    mode: 'sandbox',
    setEventSink(fn) {
      onEvent = fn;
    },

    createRecipientAccount: (input) =>
      once(input.idempotencyKey, 'account', (q) =>
        put(q, 'account', {
          id: sid('acct'),
          displayName: input.displayName,
          email: input.email,
          country: input.country,
          metadata: input.metadata,
          onboarded: false,
          detailsSubmitted: false,
          created: Date.now(),
        }),
      ).then((a) => ({ accountId: a.id })),

    async createOnboardingLink(input) {
      await get(db, input.accountId, 'account');
      const token = randomBytes(18).toString('base64url');
      const expiresAt = new Date(Date.now() + LINK_TTL_MS);
      await put(db, 'account_link', {
        id: `link_${token}`,
        accountId: input.accountId,
        refreshUrl: input.refreshUrl,
        returnUrl: input.returnUrl,
        expiresAt: expiresAt.toISOString(),
        state: 'new',
      });
      return { url: `${baseUrl}/sandbox/onboarding/${token}`, expiresAt };
    },

    /** Opening a link uses it up: a second open, or a late one, is sent to the refresh URL. */
    async onboardingLinkInfo(token) {
      return mutate(async (q) => {
        const link = await get(q, `link_${token}`, 'account_link');
        const a = await get(q, link.accountId, 'account');
        const expired = Date.parse(link.expiresAt) < Date.now();
        const state = link.state;
        if (state === 'new' && !expired) await put(q, 'account_link', { ...link, state: 'opened' });
        return { accountId: a.id, displayName: a.displayName, state, expired, refreshUrl: link.refreshUrl };
      });
    },

    async finishOnboarding(token, submit) {
      return mutate(async (q) => {
        const link = await get(q, `link_${token}`, 'account_link');
        if (link.state !== 'opened' || Date.parse(link.expiresAt) < Date.now())
          return { redirect: link.refreshUrl };
        await put(q, 'account_link', { ...link, state: 'done' });
        const a = await get(q, link.accountId, 'account');
        await put(q, 'account', { ...a, detailsSubmitted: true, onboarded: a.onboarded || submit });
        q.raise('account.updated', a.id, a.id);
        return { redirect: link.returnUrl };
      });
    },

    retrieveAccount: async (accountId) => accountView(await get(db, accountId, 'account')),

    async accountBalance(accountId) {
      const rows = await db.query(
        `SELECT data->>'currency' AS currency, sum((data->>'net')::bigint)::text AS amount FROM payments_sandbox_objects
         WHERE kind = 'balance_transaction' AND data->>'owner' = $1 GROUP BY 1`,
        [accountId],
      );
      return rows.map((r) => ({ currency: r.currency, amount: BigInt(r.amount) }));
    },

    createCheckout: (input) =>
      once(input.idempotencyKey, 'checkout_session', (q) =>
        put(q, 'checkout_session', {
          id: sid('cs'),
          mode: input.mode,
          amount: Number(input.amount),
          currency: input.currency,
          description: input.description,
          transferGroup: input.transferGroup,
          saveCard: input.saveCard,
          customerId: input.customerId ?? null,
          customerEmail: input.customerEmail ?? null,
          successUrl: input.successUrl,
          cancelUrl: input.cancelUrl,
          metadata: input.metadata,
          status: 'open',
          created: Date.now(),
        }),
      ).then(sessionView),

    retrieveCheckout: async (sessionId) => sessionView(await get(db, sessionId, 'checkout_session')),

    async checkoutInfo(sessionId) {
      const s = await get(db, sessionId, 'checkout_session');
      return {
        sessionId: s.id,
        amount: s.amount,
        currency: s.currency,
        description: s.description,
        status: s.status,
        cancelUrl: s.cancelUrl,
      };
    },

    /** The customer pays on the sandbox page; a declining card leaves the session open. */
    async pay(sessionId, card) {
      return mutate(async (q) => {
        await q.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sbx:${sessionId}`]);
        const s = await get(q, sessionId, 'checkout_session');
        if (s.status !== 'open') throw conflict(`this sandbox payment is ${s.status}`);
        const customerId =
          s.customerId ?? (await put(q, 'customer', { id: sid('cus'), email: s.customerEmail })).id;
        const pm = await put(q, 'payment_method', {
          id: sid('pm'),
          customerId,
          last4: card.slice(-4),
          declines: card.replace(/\s/g, '') === SANDBOX_DECLINING_CARD,
        });
        if (s.mode === 'setup') {
          // Saving a card: a declining one is refused, as Stripe's card check would.
          if (pm.declines) return { paid: false, redirect: null };
          await put(q, 'checkout_session', { ...s, status: 'complete', customerId, paymentMethodId: pm.id });
          q.raise('checkout.session.completed', s.id);
          return { paid: true, redirect: String(s.successUrl).replace('{CHECKOUT_SESSION_ID}', s.id) };
        }
        const c = await charge(q, {
          amount: s.amount,
          currency: s.currency,
          customerId,
          paymentMethod: pm,
          transferGroup: s.transferGroup,
          metadata: s.metadata,
        });
        if (!c) return { paid: false, redirect: null };
        await put(q, 'checkout_session', {
          ...s,
          status: 'complete',
          customerId,
          paymentIntentId: c.paymentIntentId,
          paymentMethodId: pm.id,
        });
        q.raise('checkout.session.completed', s.id);
        return { paid: true, redirect: String(s.successUrl).replace('{CHECKOUT_SESSION_ID}', s.id) };
      });
    },

    async chargeSavedCard(input) {
      const c = await once(input.idempotencyKey, 'charge', async (q) => {
        const pm = await get(q, input.paymentMethodId, 'payment_method');
        if (pm.customerId !== input.customerId) throw conflict("the saved card is not this customer's");
        const result = await charge(q, {
          amount: Number(input.amount),
          currency: input.currency,
          customerId: input.customerId,
          paymentMethod: pm,
          transferGroup: input.transferGroup,
          metadata: input.metadata,
        });
        // A decline is remembered under the key, as Stripe replays the first answer.
        return result ?? put(q, 'charge', { id: sid('ch'), declined: true });
      });
      if (c.declined) throw new ProviderRefusal('card_declined', 'Your card was declined (sandbox).');
      return chargeView(c);
    },

    async retrieveCharge(id) {
      let chargeId = id;
      if (id.startsWith('pi_')) chargeId = (await get(db, id, 'payment_intent')).chargeId;
      return chargeView(await get(db, chargeId, 'charge'));
    },

    transfer: (req: TransferRequest) =>
      once(req.idempotencyKey, 'transfer', async (q) => {
        const a = await get(q, req.destinationAccountId, 'account');
        if (!a.onboarded)
          throw new ProviderRefusal('account_restricted', 'the payout account cannot receive transfers yet');
        const amount = Number(req.amount);
        if (req.sourceTransaction) {
          const c = await get(q, req.sourceTransaction, 'charge');
          const used = await q.one(
            `SELECT coalesce(sum((data->>'amount')::bigint), 0)::text AS sum FROM payments_sandbox_objects
             WHERE kind = 'transfer' AND data->>'sourceTransaction' = $1`,
            [c.id],
          );
          if (Number(used.sum) + amount > c.amount)
            throw new ProviderRefusal('amount_too_large', `transfers from ${c.id} cannot exceed the charge`);
        } else if ((await balanceOf(q, 'platform', req.currency)) < amount)
          throw new ProviderRefusal('balance_insufficient', 'the sandbox platform balance is too low');
        const t = await put(q, 'transfer', {
          id: sid('tr'),
          amount,
          amountReversed: 0,
          currency: req.currency,
          destination: a.id,
          transferGroup: req.transferGroup,
          sourceTransaction: req.sourceTransaction ?? null,
          metadata: req.metadata ?? {},
        });
        await balanceTx(q, 'platform', {
          type: 'transfer',
          source: t.id,
          amount: -amount,
          currency: req.currency,
        });
        await balanceTx(q, a.id, { type: 'payment', source: t.id, amount, currency: req.currency });
        q.raise('transfer.created', t.id);
        return t;
      }).then((t) => ({ transferId: t.id })),

    reverseTransfer: (input) =>
      once(input.idempotencyKey, 'transfer_reversal', async (q) => {
        const t = await get(q, input.transferId, 'transfer');
        const amount = Number(input.amount);
        if (amount > t.amount - t.amountReversed)
          throw new ProviderRefusal('amount_too_large', 'more than is left of the transfer');
        if ((await balanceOf(q, t.destination, t.currency)) < amount)
          throw new ProviderRefusal('balance_insufficient', 'the payout account no longer holds the funds');
        const r = await put(q, 'transfer_reversal', {
          id: sid('trr'),
          transfer: t.id,
          amount,
          currency: t.currency,
          metadata: input.metadata,
        });
        await put(q, 'transfer', { ...t, amountReversed: t.amountReversed + amount });
        await balanceTx(q, 'platform', {
          type: 'transfer_cancel',
          source: r.id,
          amount,
          currency: t.currency,
        });
        await balanceTx(q, t.destination, {
          type: 'payment_refund',
          source: r.id,
          amount: -amount,
          currency: t.currency,
        });
        q.raise('transfer.reversed', t.id);
        return r;
      }).then((r) => ({ reversalId: r.id })),

    refund: (input) =>
      once(input.idempotencyKey, 'refund', async (q) => {
        const c = await get(q, input.chargeId, 'charge');
        const amount = Number(input.amount);
        if (amount > c.amount - c.amountRefunded)
          throw new ProviderRefusal(
            'amount_too_large',
            `the refund is more than is left of the charge (${c.amount - c.amountRefunded})`,
          );
        const re = await put(q, 'refund', {
          id: sid('re'),
          charge: c.id,
          amount,
          currency: c.currency,
          status: 'succeeded',
          metadata: input.metadata,
        });
        await put(q, 'charge', { ...c, amountRefunded: c.amountRefunded + amount });
        await balanceTx(q, 'platform', {
          type: 'refund',
          source: re.id,
          amount: -amount,
          currency: c.currency,
        });
        q.raise('charge.refunded', c.id);
        return re;
      }).then((re) => ({ refundId: re.id, status: re.status })),

    async retrieveDispute(disputeId) {
      const d = await get(db, disputeId, 'dispute');
      return {
        disputeId: d.id,
        chargeId: d.charge,
        amount: BigInt(d.amount),
        fee: BigInt(d.fee ?? 0),
        currency: d.currency,
        status: d.status,
        reason: d.reason,
      };
    },

    /**
     * What a card network does on Stripe, for trying the dispute flow with nothing configured: the
     * customer disputes a charge (the platform balance loses the amount and the dispute fee at
     * once), raising charge.dispute.created; one dispute per charge, as on Stripe.
     */
    async openDispute(chargeId, input) {
      return mutate(async (q) => {
        const c = await get(q, chargeId, 'charge');
        const open = await q.maybeOne(
          "SELECT id FROM payments_sandbox_objects WHERE kind = 'dispute' AND data->>'charge' = $1",
          [c.id],
        );
        if (open) throw conflict(`charge ${c.id} is already disputed (${open.id})`);
        const left = c.amount - c.amountRefunded;
        const amount = input.amount ?? left;
        if (amount > left)
          throw new ProviderRefusal(
            'amount_too_large',
            `the dispute is more than is left of the charge (${left})`,
          );
        const d = await put(q, 'dispute', {
          id: sid('dp'),
          charge: c.id,
          amount,
          fee: SANDBOX_DISPUTE_FEE,
          currency: c.currency,
          reason: input.reason ?? 'fraudulent',
          status: 'needs_response',
          created: Date.now(),
        });
        await balanceTx(q, 'platform', {
          type: 'adjustment',
          source: d.id,
          amount: -amount,
          fee: SANDBOX_DISPUTE_FEE,
          currency: c.currency,
        });
        q.raise('charge.dispute.created', d.id);
        return { disputeId: d.id };
      });
    },

    /** The dispute closes: won gives the amount back (the fee stays lost); raises charge.dispute.closed. */
    async closeDispute(disputeId, outcome) {
      await mutate(async (q) => {
        const d = await get(q, disputeId, 'dispute');
        if (d.status === 'won' || d.status === 'lost')
          throw conflict(`dispute ${d.id} is already ${d.status}`);
        await put(q, 'dispute', { ...d, status: outcome });
        if (outcome === 'won')
          await balanceTx(q, 'platform', {
            type: 'adjustment',
            source: d.id,
            amount: d.amount,
            currency: d.currency,
          });
        q.raise('charge.dispute.closed', d.id);
      });
    },

    async *balanceTransactions(range) {
      const rows = await db.query(
        `SELECT data FROM payments_sandbox_objects WHERE kind = 'balance_transaction' AND data->>'owner' = 'platform'
           AND (data->>'created')::bigint >= $1 AND (data->>'created')::bigint < $2 ORDER BY created_at, id`,
        [range.from.getTime(), range.to.getTime()],
      );
      for (const { data: t } of rows)
        yield {
          id: t.id,
          type: t.type,
          source: t.source,
          amount: BigInt(t.amount),
          fee: BigInt(t.fee),
          net: BigInt(t.net),
          currency: t.currency,
          created: new Date(t.created),
        } satisfies ProviderBalanceTransaction;
    },
  };
  return provider;
}

export type SandboxProvider = ReturnType<typeof createSandboxProvider>;
