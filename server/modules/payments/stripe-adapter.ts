import { createRequire } from 'node:module';
import type Stripe from 'stripe';
import { PlazaError } from '../../errors.ts';
import type { ProviderBalanceTransaction, TransferRequest } from '../ledger/index.ts';
import {
  type CheckoutSession,
  type PaymentProvider,
  type ProviderAccount,
  type ProviderCharge,
  type ProviderEvent,
  ProviderRefusal,
} from './provider.ts';

/** Stripe's answer to a signature check: the tolerance the issue asks for, in seconds. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

export interface StripeAdapterOptions {
  secretKey: string;
  /** The platform endpoint's and the Connect endpoint's secrets (Stripe signs each endpoint with its own). */
  webhookSecrets: string[];
  /** Another API address (a fake Stripe in tests); default Stripe's own. */
  apiUrl?: string;
}

const upper = (c: string) => c.toUpperCase();
const lower = (c: string) => c.toLowerCase();
/** Stripe takes integer minor units as numbers; ours never pass 2^53. */
const num = (v: bigint) => Number(v);
const idOf = (v: string | { id: string } | null | undefined) =>
  v == null ? null : typeof v === 'string' ? v : v.id;

// The SDK (~220 files) loads when a Stripe provider is made: a start without Stripe configured skips it.
const loadStripe = () => createRequire(import.meta.url)('stripe') as typeof Stripe;

export function createStripeProvider(opts: StripeAdapterOptions) {
  const api = opts.apiUrl ? new URL(opts.apiUrl) : null;
  const StripeSdk = loadStripe();
  const stripe = new StripeSdk(opts.secretKey, {
    maxNetworkRetries: 2,
    timeout: 20_000,
    appInfo: { name: 'Plaza' },
    ...(api
      ? {
          host: api.hostname,
          port: Number(api.port || (api.protocol === 'https:' ? 443 : 80)),
          protocol: api.protocol.replace(':', '') as 'http' | 'https',
        }
      : {}),
  });

  /** Declines and balance shortfalls are answers to show; anything else is Stripe being unreachable or a bug. */
  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StripeSdk.errors.StripeCardError)
        throw new ProviderRefusal(err.code ?? 'card_declined', err.message);
      if (err instanceof StripeSdk.errors.StripeInvalidRequestError && err.code === 'balance_insufficient')
        throw new ProviderRefusal('balance_insufficient', err.message);
      // Another request with the same idempotency key is still going through (409): not an answer yet.
      if ((err as { code?: string }).code === 'idempotency_key_in_use')
        throw new PlazaError('PLAZA_UNAVAILABLE', `Stripe is still processing ${what}; try again`, {
          cause: err,
        });
      if (
        err instanceof StripeSdk.errors.StripeConnectionError ||
        err instanceof StripeSdk.errors.StripeAPIError ||
        err instanceof StripeSdk.errors.StripeRateLimitError
      )
        throw new PlazaError('PLAZA_UNAVAILABLE', `Stripe did not answer ${what}; try again`, { cause: err });
      throw err;
    }
  }

  function account(a: Stripe.Account): ProviderAccount {
    const req = a.requirements;
    return {
      accountId: a.id,
      transfersActive: a.capabilities?.transfers === 'active',
      payoutsEnabled: a.payouts_enabled ?? false,
      chargesEnabled: a.charges_enabled ?? false,
      detailsSubmitted: a.details_submitted ?? false,
      currentlyDue: req?.currently_due ?? [],
      pastDue: req?.past_due ?? [],
      deadline: req?.current_deadline ? new Date(req.current_deadline * 1000) : null,
      disabledReason: req?.disabled_reason ?? null,
    };
  }

  async function session(s: Stripe.Checkout.Session): Promise<CheckoutSession> {
    let paymentMethodId: string | null = null;
    if (s.status === 'complete') {
      if (s.setup_intent) {
        const si = await stripe.setupIntents.retrieve(idOf(s.setup_intent as string)!);
        paymentMethodId = idOf(si.payment_method as string | null);
      } else if (s.payment_intent) {
        const pi = await stripe.paymentIntents.retrieve(idOf(s.payment_intent as string)!);
        paymentMethodId = idOf(pi.payment_method as string | null);
      }
    }
    return {
      sessionId: s.id,
      url: s.url ?? '',
      status: (s.status ?? 'open') as CheckoutSession['status'],
      paid: s.payment_status === 'paid',
      customerId: idOf(s.customer as string | null),
      paymentIntentId: idOf(s.payment_intent as string | null),
      paymentMethodId,
      metadata: (s.metadata ?? {}) as Record<string, string>,
    };
  }

  async function charge(ch: Stripe.Charge): Promise<ProviderCharge> {
    let bt = ch.balance_transaction as Stripe.BalanceTransaction | string | null;
    if (typeof bt === 'string') bt = await stripe.balanceTransactions.retrieve(bt);
    return {
      chargeId: ch.id,
      paymentIntentId: idOf(ch.payment_intent as string | null),
      amount: BigInt(ch.amount),
      currency: upper(ch.currency),
      fee: BigInt(bt?.fee ?? 0),
      availableOn: new Date((bt?.available_on ?? ch.created) * 1000),
      amountRefunded: BigInt(ch.amount_refunded),
      customerId: idOf(ch.customer as string | null),
      paymentMethodId: idOf(ch.payment_method as string | null),
      transferGroup: ch.transfer_group ?? null,
      metadata: (ch.metadata ?? {}) as Record<string, string>,
    };
  }

  async function retrieveCharge(id: string) {
    return call('the charge', async () => {
      let chargeId = id;
      if (id.startsWith('pi_')) {
        const pi = await stripe.paymentIntents.retrieve(id);
        if (!pi.latest_charge) throw new ProviderRefusal('no_charge', `payment ${id} has no charge`);
        chargeId = idOf(pi.latest_charge as string)!;
      }
      return charge(await stripe.charges.retrieve(chargeId, { expand: ['balance_transaction'] }));
    });
  }

  const provider: PaymentProvider & {
    parseWebhook(raw: Buffer, signature: string): ProviderEvent;
  } = {
    name: 'stripe',
    mode: opts.secretKey.includes('_live_') ? 'live' : 'test',

    createRecipientAccount: (input) =>
      call('creating the payout account', async () => {
        const a = await stripe.v2.core.accounts.create(
          {
            display_name: input.displayName,
            ...(input.email ? { contact_email: input.email } : {}),
            dashboard: 'express',
            identity: { country: lower(input.country) },
            // The platform is merchant of record and pays fees and losses.
            defaults: {
              responsibilities: { fees_collector: 'application_express', losses_collector: 'application' },
            },
            configuration: {
              recipient: { capabilities: { stripe_balance: { stripe_transfers: { requested: true } } } },
            },
            metadata: input.metadata,
          },
          { idempotencyKey: input.idempotencyKey },
        );
        return { accountId: a.id };
      }),

    createOnboardingLink: (input) =>
      call('the onboarding link', async () => {
        const link = await stripe.v2.core.accountLinks.create({
          account: input.accountId,
          use_case: {
            type: 'account_onboarding',
            account_onboarding: { refresh_url: input.refreshUrl, return_url: input.returnUrl },
          },
        });
        return { url: link.url, expiresAt: new Date(link.expires_at) };
      }),

    retrieveAccount: (accountId) =>
      call('the payout account', async () => account(await stripe.accounts.retrieve(accountId))),

    accountBalance: (accountId) =>
      call('the payout account balance', async () => {
        const b = await stripe.balance.retrieve({}, { stripeAccount: accountId });
        const sums = new Map<string, bigint>();
        for (const part of [...b.available, ...b.pending])
          sums.set(upper(part.currency), (sums.get(upper(part.currency)) ?? 0n) + BigInt(part.amount));
        return [...sums].map(([currency, amount]) => ({ currency, amount }));
      }),

    createCheckout: (input) =>
      call('the checkout', async () => {
        const customer = input.customerId
          ? { customer: input.customerId }
          : input.mode === 'payment'
            ? { customer_creation: 'always' as const, customer_email: input.customerEmail ?? undefined }
            : { customer_email: input.customerEmail ?? undefined };
        const params: Stripe.Checkout.SessionCreateParams =
          input.mode === 'payment'
            ? {
                mode: 'payment',
                line_items: [
                  {
                    quantity: 1,
                    price_data: {
                      currency: lower(input.currency),
                      unit_amount: num(input.amount),
                      product_data: { name: input.description },
                    },
                  },
                ],
                payment_intent_data: {
                  transfer_group: input.transferGroup,
                  description: input.description,
                  metadata: input.metadata,
                  ...(input.saveCard ? { setup_future_usage: 'off_session' as const } : {}),
                },
              }
            : {
                mode: 'setup',
                currency: lower(input.currency),
                setup_intent_data: { metadata: input.metadata },
              };
        return session(
          await stripe.checkout.sessions.create(
            {
              ...params,
              ...customer,
              client_reference_id: input.transferGroup,
              metadata: input.metadata,
              success_url: input.successUrl,
              cancel_url: input.cancelUrl,
            },
            { idempotencyKey: input.idempotencyKey },
          ),
        );
      }),

    retrieveCheckout: (sessionId) =>
      call('the checkout', async () => session(await stripe.checkout.sessions.retrieve(sessionId))),

    chargeSavedCard: (input) =>
      call('the charge', async () => {
        const pi = await stripe.paymentIntents.create(
          {
            amount: num(input.amount),
            currency: lower(input.currency),
            customer: input.customerId,
            payment_method: input.paymentMethodId,
            confirm: true,
            off_session: true,
            description: input.description,
            transfer_group: input.transferGroup,
            metadata: input.metadata,
          },
          { idempotencyKey: input.idempotencyKey },
        );
        if (pi.status !== 'succeeded' || !pi.latest_charge)
          throw new ProviderRefusal(pi.status, `the payment is ${pi.status.replaceAll('_', ' ')}`);
        return charge(
          await stripe.charges.retrieve(idOf(pi.latest_charge as string)!, {
            expand: ['balance_transaction'],
          }),
        );
      }),

    retrieveCharge,

    transfer: (req: TransferRequest) =>
      call('the transfer', async () => {
        const t = await stripe.transfers.create(
          {
            amount: num(req.amount),
            currency: lower(req.currency),
            destination: req.destinationAccountId,
            transfer_group: req.transferGroup,
            ...(req.sourceTransaction ? { source_transaction: req.sourceTransaction } : {}),
            metadata: { partner: req.partnerOrgId, ...req.metadata },
          },
          { idempotencyKey: req.idempotencyKey },
        );
        return { transferId: t.id };
      }),

    reverseTransfer: (input) =>
      call('the transfer reversal', async () => {
        const r = await stripe.transfers.createReversal(
          input.transferId,
          { amount: num(input.amount), metadata: input.metadata },
          { idempotencyKey: input.idempotencyKey },
        );
        return { reversalId: r.id };
      }),

    refund: (input) =>
      call('the refund', async () => {
        const r = await stripe.refunds.create(
          { charge: input.chargeId, amount: num(input.amount), metadata: input.metadata },
          { idempotencyKey: input.idempotencyKey },
        );
        return { refundId: r.id, status: r.status ?? 'pending' };
      }),

    retrieveDispute: (disputeId) =>
      call('the dispute', async () => {
        const d = await stripe.disputes.retrieve(disputeId);
        return {
          disputeId: d.id,
          chargeId: idOf(d.charge as string)!,
          amount: BigInt(d.amount),
          fee: BigInt((d.balance_transactions ?? []).reduce((sum, t) => sum + (t.fee ?? 0), 0)),
          currency: upper(d.currency),
          status: d.status,
          reason: d.reason,
        };
      }),

    async *balanceTransactions(range) {
      const list = stripe.balanceTransactions.list({
        created: { gte: Math.floor(range.from.getTime() / 1000), lt: Math.floor(range.to.getTime() / 1000) },
        limit: 100,
      });
      const all: ProviderBalanceTransaction[] = [];
      for await (const t of list)
        all.push({
          id: t.id,
          type: t.type,
          source: idOf(t.source as string | null) ?? '',
          amount: BigInt(t.amount),
          fee: BigInt(t.fee),
          net: BigInt(t.net),
          currency: upper(t.currency),
          created: new Date(t.created * 1000),
        });
      // Stripe lists newest first.
      yield* all.reverse();
    },

    /** Verifies Stripe's signature on the raw body (300 s tolerance); throws on a bad or stale one. */
    parseWebhook(raw, signature) {
      let e: Stripe.Event | undefined;
      let last: unknown;
      for (const secret of opts.webhookSecrets) {
        try {
          e = stripe.webhooks.constructEvent(raw, signature, secret, WEBHOOK_TOLERANCE_SECONDS);
          break;
        } catch (err) {
          last = err;
        }
      }
      if (!e) throw last;
      const obj = e.data.object as { id?: string };
      return {
        id: e.id,
        type: e.type,
        objectId: obj.id ?? '',
        account: e.account ?? null,
        created: new Date(e.created * 1000),
      };
    },
  };
  return provider;
}

export type StripeProvider = ReturnType<typeof createStripeProvider>;
