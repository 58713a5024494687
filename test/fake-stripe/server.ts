import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { type FormValue, parseForm } from './forms.ts';

/**
 * A fake Stripe: a real HTTP server speaking the subset of the Stripe API
 * Plaza uses, keeping state in memory, honouring Idempotency-Key and sending
 * webhooks signed with the SDK's own test-header helper. The real `stripe`
 * SDK is pointed at it with host/port/protocol. Test controls (finishing
 * onboarding, paying a Checkout session, disputes, holding webhooks to
 * deliver them twice or out of order) are methods on the returned object.
 *
 * Money rules it keeps, as Stripe does: the platform's balance gets each
 * charge less its fee; a transfer needs the platform balance unless it names
 * a `source_transaction` (then at most that charge's amount across its
 * transfers); a reversal needs the connected account's balance; a refund is
 * at most what is left of the charge.
 */
export interface FakeStripeOptions {
  apiKey?: string;
  webhookSecret?: string;
  /** Where signed events are POSTed (can be set later with `setWebhookUrl`). */
  webhookUrl?: string;
}

type Obj = Record<string, any>;
type Json = Record<string, unknown>;

interface Delivery {
  eventId: string;
  status: number | 'error';
  at: number;
}

class StripeApiError extends Error {
  readonly status: number;
  readonly body: Json;
  constructor(status: number, body: Json) {
    super(String((body as { message?: string }).message));
    this.status = status;
    this.body = body;
  }
}

const invalid = (message: string, param?: string, code?: string) =>
  new StripeApiError(400, { type: 'invalid_request_error', message, param, code });
const missing = (what: string, id: string, param = 'id') =>
  new StripeApiError(404, {
    type: 'invalid_request_error',
    code: 'resource_missing',
    message: `No such ${what}: '${id}'`,
    param,
  });

const now = () => Math.floor(Date.now() / 1000);
const clone = <T>(v: T): T => structuredClone(v);
const fee = (amount: number) => Math.round(amount * 0.029) + 30;
const DISPUTE_FEE = 1500;

export async function startFakeStripe(opts: FakeStripeOptions = {}) {
  const apiKey = opts.apiKey ?? `sk_test_fake_${randomBytes(8).toString('hex')}`;
  const webhookSecret = opts.webhookSecret ?? `whsec_${randomBytes(24).toString('base64url')}`;
  // Stripe signs Connect events (about a connected account) for the Connect endpoint, with its own secret.
  const connectWebhookSecret = `whsec_${randomBytes(24).toString('base64url')}`;
  let webhookUrl = opts.webhookUrl;
  const signer = new Stripe(apiKey);

  const objects = new Map<string, Obj>();
  const events: Obj[] = [];
  const idempotency = new Map<string, { fingerprint: string; status: number; body: unknown }>();
  const requests: Array<{ method: string; path: string; idempotencyKey?: string; account?: string }> = [];
  const deliveries: Delivery[] = [];
  const held: Obj[] = [];
  /** POST paths whose answers come late, after the object exists (a slow network, for crash tests). */
  const lateAnswers = new Map<string, number>();
  /** POST paths Stripe takes `ms` to process: the key is in use until then (a slow Stripe, for race tests). */
  const slowAnswers = new Map<string, number>();
  /** Idempotency keys of requests being processed: Stripe answers 409 to another request with one. */
  const keysInUse = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  let holding = false;
  /** Balances in minor units by currency: the platform's and each connected account's. */
  const balances = new Map<string, Map<string, number>>();
  const balanceOf = (owner: string, currency: string) => balances.get(owner)?.get(currency) ?? 0;
  const addBalance = (owner: string, currency: string, delta: number) => {
    const m = balances.get(owner) ?? new Map<string, number>();
    m.set(currency, (m.get(currency) ?? 0) + delta);
    balances.set(owner, m);
  };
  let seq = 0;
  const id = (prefix: string) =>
    `${prefix}_${(++seq).toString(36).padStart(4, '0')}${randomBytes(9).toString('hex')}`;

  const put = <T extends Obj>(o: T) => {
    objects.set(o.id, o);
    return o;
  };
  const get = (prefix: string, what: string, key: string, param = 'id') => {
    const o = objects.get(key);
    if (!o || !key.startsWith(prefix)) throw missing(what, key, param);
    return o;
  };

  function balanceTransaction(owner: string, fields: Obj) {
    const bt: Obj = put({
      id: id('txn'),
      object: 'balance_transaction',
      created: now(),
      available_on: now(),
      status: 'available',
      fee: 0,
      fee_details: [],
      description: null,
      reporting_category: fields.type,
      ...fields,
      net: fields.amount - (fields.fee ?? 0),
    });
    bt._owner = owner;
    addBalance(owner, bt.currency, bt.net);
    return bt;
  }

  function emit(type: string, object: Obj, account?: string) {
    const event = {
      id: id('evt'),
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: now(),
      data: { object: publicView(clone(object)) },
      livemode: false,
      pending_webhooks: webhookUrl ? 1 : 0,
      request: { id: null, idempotency_key: null },
      type,
      ...(account ? { account } : {}),
    };
    events.push(event);
    if (holding) held.push(event);
    else send(event);
    return event;
  }

  function send(event: Obj) {
    if (!webhookUrl) return;
    const target = webhookUrl;
    const payload = JSON.stringify(event, null, 2);
    const secret = event.account ? connectWebhookSecret : webhookSecret;
    const header = signer.webhooks.generateTestHeaderString({ payload, secret });
    const p = fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': header },
      body: payload,
    })
      .then(async (res) => {
        await res.arrayBuffer();
        deliveries.push({ eventId: event.id, status: res.status, at: Date.now() });
      })
      .catch(() => {
        deliveries.push({ eventId: event.id, status: 'error', at: Date.now() });
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  /** Internal fields (`_owner` ...) never leave the fake. */
  function publicView(o: Obj): Obj {
    for (const k of Object.keys(o)) if (k.startsWith('_')) delete o[k];
    return o;
  }

  // ---------------------------------------------------------------- accounts

  function v1Account(a: Obj): Obj {
    const due: string[] = a._requirements.map((r: Obj) => r.field);
    const transfers = a._transfersStatus;
    return {
      id: a.id,
      object: 'account',
      business_profile: { name: a.display_name },
      capabilities: { transfers },
      charges_enabled: false,
      controller: {
        type: 'application',
        fees: { payer: 'application' },
        losses: { payments: 'application' },
        stripe_dashboard: { type: a.dashboard },
        requirement_collection: 'stripe',
      },
      country: a.identity?.country?.toUpperCase() ?? 'US',
      created: a._created,
      details_submitted: a._detailsSubmitted,
      email: a.contact_email ?? null,
      metadata: a.metadata ?? {},
      payouts_enabled: transfers === 'active',
      requirements: {
        currently_due: due,
        eventually_due: due,
        past_due: a._pastDue ? due : [],
        current_deadline: a._deadline,
        disabled_reason: transfers === 'active' ? null : due.length ? 'requirements.past_due' : null,
        errors: [],
      },
      type: 'none',
    };
  }

  function v2Account(a: Obj, include: string[]): Obj {
    const out: Obj = {
      id: a.id,
      object: 'v2.core.account',
      applied_configurations: ['recipient'],
      contact_email: a.contact_email ?? null,
      created: new Date(a._created * 1000).toISOString(),
      dashboard: a.dashboard,
      defaults: a.defaults ?? null,
      display_name: a.display_name ?? null,
      identity: a.identity ?? null,
      livemode: false,
      metadata: a.metadata ?? {},
      configuration: null,
      requirements: null,
    };
    if (include.includes('configuration.recipient'))
      out.configuration = {
        recipient: {
          applied: true,
          capabilities: {
            stripe_balance: {
              stripe_transfers: {
                requested: true,
                status: a._transfersStatus === 'active' ? 'active' : 'restricted',
                status_details: [],
              },
            },
          },
        },
      };
    if (include.includes('requirements'))
      out.requirements = {
        entries: a._requirements.map((r: Obj) => ({
          awaiting_action_from: 'user',
          description: r.field,
          errors: [],
          impact: {
            restricts_capabilities: [
              { capability: 'stripe_balance.stripe_transfers', configuration: 'recipient' },
            ],
          },
          minimum_deadline: { status: a._pastDue ? 'past_due' : 'currently_due' },
          reference: null,
          requested_reasons: [],
        })),
        summary: {
          minimum_deadline: a._requirements.length
            ? {
                status: a._pastDue ? 'past_due' : 'currently_due',
                time: a._deadline ? new Date(a._deadline * 1000).toISOString() : null,
              }
            : null,
        },
      };
    return out;
  }

  function createAccountV2(body: Obj) {
    const recipient = body.configuration?.recipient;
    if (!recipient) throw invalid('This fake supports only the recipient configuration', 'configuration');
    if (!['express', 'full', 'none'].includes(body.dashboard ?? 'full'))
      throw invalid('dashboard must be express, full or none', 'dashboard');
    const a = put({
      id: id('acct'),
      contact_email: body.contact_email,
      dashboard: body.dashboard ?? 'full',
      display_name: body.display_name,
      identity: body.identity,
      defaults: body.defaults,
      metadata: body.metadata ?? {},
      _created: now(),
      _requirements: [
        { field: 'individual.first_name' },
        { field: 'individual.last_name' },
        { field: 'external_account' },
        { field: 'tos_acceptance.date' },
      ],
      _deadline: null as number | null,
      _pastDue: false,
      _detailsSubmitted: false,
      _transfersStatus: 'inactive',
    });
    return a;
  }

  function accountUpdated(a: Obj) {
    emit('account.updated', v1Account(a), a.id);
  }

  function createAccountLink(body: Obj) {
    const a = get('acct', 'account', body.account, 'account');
    const useCase = body.use_case;
    if (useCase?.type !== 'account_onboarding' && useCase?.type !== 'account_update')
      throw invalid('use_case.type must be account_onboarding or account_update', 'use_case.type');
    const detail = useCase[useCase.type];
    if (!detail?.refresh_url)
      throw invalid('refresh_url is required', `use_case.${useCase.type}.refresh_url`);
    const link = {
      id: id('al'),
      object: 'v2.core.account_link',
      account: a.id,
      created: new Date().toISOString(),
      expires_at: new Date(Date.now() + 5 * 60_000).toISOString(),
      livemode: false,
      use_case: useCase,
      _state: 'new' as 'new' | 'opened' | 'done',
    };
    const token = randomBytes(12).toString('hex');
    put({ ...link, id: `link_${token}` });
    return { ...link, url: `${base()}/connect/onboard/${token}` };
  }

  // ---------------------------------------------------------------- payments

  function customer(body: Obj) {
    return put({
      id: id('cus'),
      object: 'customer',
      created: now(),
      email: body.email ?? null,
      name: body.name ?? null,
      metadata: body.metadata ?? {},
      invoice_settings: { default_payment_method: null },
    });
  }

  function paymentMethod(customerId: string, declines = false) {
    return put({
      id: id('pm'),
      object: 'payment_method',
      type: 'card',
      card: { brand: 'visa', last4: declines ? '0002' : '4242', exp_month: 12, exp_year: 2034 },
      customer: customerId,
      _declines: declines,
    });
  }

  /** Charges `amount`: a succeeded PaymentIntent with its Charge and balance transaction, or a decline. */
  function charge(p: {
    amount: number;
    currency: string;
    customer?: string | null;
    paymentMethod: Obj;
    transferGroup?: string | null;
    metadata?: Obj;
    description?: string | null;
  }) {
    const pi = put({
      id: id('pi'),
      object: 'payment_intent',
      amount: p.amount,
      amount_received: 0,
      currency: p.currency,
      customer: p.customer ?? null,
      created: now(),
      description: p.description ?? null,
      latest_charge: null as string | null,
      last_payment_error: null as Obj | null,
      metadata: p.metadata ?? {},
      payment_method: p.paymentMethod.id,
      status: 'requires_payment_method',
      transfer_group: p.transferGroup ?? null,
    });
    if (p.paymentMethod._declines) {
      pi.last_payment_error = {
        type: 'card_error',
        code: 'card_declined',
        decline_code: 'generic_decline',
        message: 'Your card was declined.',
      };
      emit('payment_intent.payment_failed', pi);
      return { pi, charge: null };
    }
    const ch = put({
      id: id('ch'),
      object: 'charge',
      amount: p.amount,
      amount_captured: p.amount,
      amount_refunded: 0,
      balance_transaction: null as string | null,
      captured: true,
      created: now(),
      currency: p.currency,
      customer: p.customer ?? null,
      disputed: false,
      metadata: p.metadata ?? {},
      paid: true,
      payment_intent: pi.id,
      payment_method: p.paymentMethod.id,
      refunded: false,
      status: 'succeeded',
      transfer_group: p.transferGroup ?? null,
    });
    const f = fee(p.amount);
    const bt = balanceTransaction('platform', {
      amount: p.amount,
      currency: p.currency,
      fee: f,
      fee_details: [
        { type: 'stripe_fee', amount: f, currency: p.currency, description: 'Stripe processing fees' },
      ],
      source: ch.id,
      type: 'charge',
    });
    ch.balance_transaction = bt.id;
    Object.assign(pi, { status: 'succeeded', amount_received: p.amount, latest_charge: ch.id });
    emit('charge.succeeded', ch);
    emit('payment_intent.succeeded', pi);
    return { pi, charge: ch };
  }

  function createCheckoutSession(body: Obj) {
    const mode = body.mode;
    if (mode !== 'payment' && mode !== 'setup')
      throw invalid('mode must be payment or setup (this fake)', 'mode');
    if (!body.success_url) throw invalid('Missing required param: success_url.', 'success_url');
    let amount = 0;
    let currency = body.currency ?? null;
    const items = (body.line_items ?? []) as Obj[];
    if (mode === 'payment') {
      if (!items.length) throw invalid('Missing required param: line_items.', 'line_items');
      for (const [i, item] of items.entries()) {
        const unit = Number(item.price_data?.unit_amount);
        const qty = Number(item.quantity ?? 1);
        if (!Number.isInteger(unit) || unit < 0)
          throw invalid('Invalid integer', `line_items[${i}][price_data][unit_amount]`);
        amount += unit * qty;
        currency = item.price_data.currency;
      }
    }
    if (body.customer) get('cus', 'customer', body.customer, 'customer');
    return put({
      id: id('cs_test'),
      object: 'checkout.session',
      amount_total: mode === 'payment' ? amount : null,
      cancel_url: body.cancel_url ?? null,
      client_reference_id: body.client_reference_id ?? null,
      created: now(),
      currency: currency?.toLowerCase() ?? null,
      customer: body.customer ?? null,
      customer_email: body.customer_email ?? null,
      expires_at: now() + 24 * 3600,
      metadata: body.metadata ?? {},
      mode,
      payment_intent: null as string | null,
      payment_status: mode === 'payment' ? 'unpaid' : 'no_payment_required',
      setup_intent: null as string | null,
      status: 'open',
      success_url: body.success_url,
      url: '',
      _pi: body.payment_intent_data ?? {},
      _lineItems: items,
    });
  }

  /** What the customer does on the hosted page: pay (or save a card), then Stripe sends the events. */
  function completeCheckout(sessionId: string, opts: { decline?: boolean } = {}) {
    const s = get('cs_test', 'checkout session', sessionId);
    if (s.status !== 'open') throw invalid(`Checkout session ${s.id} is ${s.status}`);
    const cus = s.customer ? objects.get(s.customer)! : customer({ email: s.customer_email });
    s.customer = cus.id;
    const pm = paymentMethod(cus.id, opts.decline);
    if (s.mode === 'setup') {
      const si = put({
        id: id('seti'),
        object: 'setup_intent',
        customer: cus.id,
        payment_method: pm.id,
        status: 'succeeded',
      });
      Object.assign(s, { setup_intent: si.id, status: 'complete' });
      emit('checkout.session.completed', s);
      return s;
    }
    const result = charge({
      amount: s.amount_total,
      currency: s.currency,
      customer: cus.id,
      paymentMethod: pm,
      transferGroup: s._pi.transfer_group ?? null,
      metadata: s._pi.metadata ?? {},
      description: s._pi.description ?? null,
    });
    if (!result.charge) return s; // declined: the session stays open, as on the hosted page
    if (s._pi.setup_future_usage) cus.invoice_settings.default_payment_method = pm.id;
    Object.assign(s, { payment_intent: result.pi.id, payment_status: 'paid', status: 'complete' });
    emit('checkout.session.completed', s);
    return s;
  }

  function createPaymentIntent(body: Obj) {
    const amount = int(body.amount, 'amount', 1);
    const currency = currencyOf(body.currency);
    if (body.confirm !== 'true' && body.confirm !== true)
      throw invalid('This fake supports only confirm=true payment intents', 'confirm');
    const pm = get('pm', 'payment method', body.payment_method, 'payment_method');
    if (body.customer && pm.customer !== body.customer)
      throw invalid(
        `The payment method ${pm.id} does not belong to customer ${body.customer}`,
        'payment_method',
      );
    const result = charge({
      amount,
      currency,
      customer: body.customer ?? null,
      paymentMethod: pm,
      transferGroup: body.transfer_group ?? null,
      metadata: body.metadata ?? {},
      description: body.description ?? null,
    });
    if (!result.charge)
      throw new StripeApiError(402, {
        type: 'card_error',
        code: 'card_declined',
        decline_code: 'generic_decline',
        message: 'Your card was declined.',
        payment_intent: publicView(clone(result.pi)),
      });
    return result.pi;
  }

  // ---------------------------------------------------------------- transfers, refunds, disputes

  function createTransfer(body: Obj) {
    const amount = int(body.amount, 'amount', 1);
    const currency = currencyOf(body.currency);
    const dest = get('acct', 'account', body.destination, 'destination');
    if (dest._transfersStatus !== 'active')
      throw invalid(
        'Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments',
        'destination',
      );
    let sourceTx: string | null = null;
    if (body.source_transaction) {
      const ch = get('ch', 'charge', body.source_transaction, 'source_transaction');
      if (ch.currency !== currency)
        throw invalid('The currency of source_transaction must match', 'currency');
      const used = [...objects.values()]
        .filter((o) => o.object === 'transfer' && o.source_transaction === ch.id)
        .reduce((s, t) => s + t.amount, 0);
      if (used + amount > ch.amount)
        throw invalid(
          `Transfers using source_transaction ${ch.id} cannot exceed the charge amount (${ch.amount})`,
          'amount',
        );
      sourceTx = ch.id;
    } else if (balanceOf('platform', currency) < amount) {
      throw invalid('You have insufficient funds in your Stripe account.', undefined, 'balance_insufficient');
    }
    const t = put({
      id: id('tr'),
      object: 'transfer',
      amount,
      amount_reversed: 0,
      balance_transaction: null as string | null,
      created: now(),
      currency,
      description: body.description ?? null,
      destination: dest.id,
      destination_payment: id('py'),
      metadata: body.metadata ?? {},
      reversals: { object: 'list', data: [] as Obj[], has_more: false, url: '' },
      reversed: false,
      source_transaction: sourceTx,
      transfer_group: body.transfer_group ?? null,
    });
    t.reversals.url = `/v1/transfers/${t.id}/reversals`;
    t.balance_transaction = balanceTransaction('platform', {
      amount: -amount,
      currency,
      source: t.id,
      type: 'transfer',
    }).id;
    balanceTransaction(dest.id, { amount, currency, source: t.destination_payment, type: 'payment' });
    emit('transfer.created', t);
    return t;
  }

  function reverseTransfer(transferId: string, body: Obj) {
    const t = get('tr', 'transfer', transferId);
    const left = t.amount - t.amount_reversed;
    const amount = body.amount === undefined ? left : int(body.amount, 'amount', 1);
    if (amount > left) throw invalid(`Amount exceeds what is left of the transfer (${left})`, 'amount');
    if (balanceOf(t.destination, t.currency) < amount)
      throw invalid(
        'Insufficient funds in the connected account to reverse this transfer.',
        undefined,
        'balance_insufficient',
      );
    const r = put({
      id: id('trr'),
      object: 'transfer_reversal',
      amount,
      balance_transaction: null as string | null,
      created: now(),
      currency: t.currency,
      metadata: body.metadata ?? {},
      transfer: t.id,
    });
    r.balance_transaction = balanceTransaction('platform', {
      amount,
      currency: t.currency,
      source: r.id,
      type: 'transfer_cancel',
    }).id;
    balanceTransaction(t.destination, {
      amount: -amount,
      currency: t.currency,
      source: r.id,
      type: 'payment_refund',
    });
    t.amount_reversed += amount;
    t.reversed = t.amount_reversed === t.amount;
    t.reversals.data.unshift(r);
    emit('transfer.reversed', t);
    return r;
  }

  function createRefund(body: Obj) {
    let ch: Obj;
    if (body.charge) ch = get('ch', 'charge', body.charge, 'charge');
    else if (body.payment_intent) {
      const pi = get('pi', 'payment intent', body.payment_intent, 'payment_intent');
      if (!pi.latest_charge) throw invalid('This PaymentIntent has no successful charge', 'payment_intent');
      ch = objects.get(pi.latest_charge)!;
    } else throw invalid('One of charge or payment_intent is required', 'charge');
    const left = ch.amount - ch.amount_refunded;
    const amount = body.amount === undefined ? left : int(body.amount, 'amount', 1);
    if (amount > left)
      throw invalid(
        `Refund amount (${amount}) is greater than unrefunded amount on charge (${left})`,
        'amount',
        'amount_too_large',
      );
    const re = put({
      id: id('re'),
      object: 'refund',
      amount,
      balance_transaction: null as string | null,
      charge: ch.id,
      created: now(),
      currency: ch.currency,
      metadata: body.metadata ?? {},
      payment_intent: ch.payment_intent,
      reason: body.reason ?? null,
      status: 'succeeded',
    });
    re.balance_transaction = balanceTransaction('platform', {
      amount: -amount,
      currency: ch.currency,
      source: re.id,
      type: 'refund',
    }).id;
    ch.amount_refunded += amount;
    ch.refunded = ch.amount_refunded === ch.amount;
    emit('refund.created', re);
    emit('charge.refunded', ch);
    return re;
  }

  function createDispute(chargeId: string, opts: { amount?: number; reason?: string } = {}) {
    const ch = get('ch', 'charge', chargeId);
    const amount = opts.amount ?? ch.amount - ch.amount_refunded;
    const dp = put({
      id: id('dp'),
      object: 'dispute',
      amount,
      balance_transactions: [] as Obj[],
      charge: ch.id,
      created: now(),
      currency: ch.currency,
      payment_intent: ch.payment_intent,
      reason: opts.reason ?? 'fraudulent',
      status: 'needs_response',
      metadata: {},
    });
    const bt = balanceTransaction('platform', {
      amount: -amount,
      currency: ch.currency,
      fee: DISPUTE_FEE,
      source: dp.id,
      type: 'adjustment',
      reporting_category: 'dispute',
    });
    dp.balance_transactions.push(publicView(clone(bt)));
    ch.disputed = true;
    emit('charge.dispute.created', dp);
    return dp;
  }

  function closeDispute(disputeId: string, outcome: 'won' | 'lost') {
    const dp = get('dp', 'dispute', disputeId);
    if (dp.status === 'won' || dp.status === 'lost')
      throw invalid(`Dispute ${dp.id} is already ${dp.status}`);
    dp.status = outcome;
    if (outcome === 'won') {
      const bt = balanceTransaction('platform', {
        amount: dp.amount,
        currency: dp.currency,
        source: dp.id,
        type: 'adjustment',
        reporting_category: 'dispute_reversal',
      });
      dp.balance_transactions.push(publicView(clone(bt)));
    }
    emit('charge.dispute.closed', dp);
    return dp;
  }

  /** The connected account's bank payout: its whole available balance leaves Stripe. */
  function createPayout(account: string, body: Obj) {
    const a = get('acct', 'account', account, 'Stripe-Account');
    const currency = currencyOf(body.currency);
    const amount = body.amount === undefined ? balanceOf(a.id, currency) : int(body.amount, 'amount', 1);
    if (amount <= 0 || balanceOf(a.id, currency) < amount)
      throw invalid(
        'You have insufficient funds in your Stripe account for this transfer.',
        'amount',
        'balance_insufficient',
      );
    const po = put({
      id: id('po'),
      object: 'payout',
      amount,
      arrival_date: now(),
      created: now(),
      currency,
      status: 'paid',
      balance_transaction: null as string | null,
      metadata: body.metadata ?? {},
    });
    po.balance_transaction = balanceTransaction(a.id, {
      amount: -amount,
      currency,
      source: po.id,
      type: 'payout',
    }).id;
    emit('payout.paid', po, a.id);
    return po;
  }

  // ---------------------------------------------------------------- helpers for input

  function int(v: unknown, param: string, min: number) {
    const n = typeof v === 'number' ? v : Number(v);
    if (v === undefined || v === '' || !Number.isInteger(n))
      throw invalid(`Invalid integer: ${String(v)}`, param);
    if (n < min) throw invalid(`This value must be greater than or equal to ${min}.`, param);
    return n;
  }
  function currencyOf(v: unknown) {
    if (typeof v !== 'string' || !/^[a-zA-Z]{3}$/.test(v)) throw invalid('Invalid currency', 'currency');
    return v.toLowerCase();
  }

  function list(items: Obj[], q: Obj, url: string) {
    const limit = Math.min(Number(q.limit ?? 10), 100);
    let start = 0;
    if (q.starting_after) start = items.findIndex((o) => o.id === q.starting_after) + 1;
    const page = items.slice(start, start + limit);
    return {
      object: 'list',
      data: page.map((o) => publicView(clone(o))),
      has_more: start + limit < items.length,
      url,
    };
  }

  function createdFilter(q: Obj) {
    const c = q.created;
    if (!c || typeof c !== 'object') return () => true;
    return (o: Obj) =>
      (c.gte === undefined || o.created >= Number(c.gte)) &&
      (c.gt === undefined || o.created > Number(c.gt)) &&
      (c.lte === undefined || o.created <= Number(c.lte)) &&
      (c.lt === undefined || o.created < Number(c.lt));
  }

  function expand(o: Obj, q: Obj) {
    const out = publicView(clone(o));
    const wanted = ([] as FormValue[]).concat((q.expand as FormValue) ?? []) as string[];
    for (const field of wanted) {
      const ref = out[field];
      if (typeof ref === 'string' && objects.has(ref)) out[field] = publicView(clone(objects.get(ref)!));
    }
    return out;
  }

  // ---------------------------------------------------------------- routing

  type Handler = (m: RegExpMatchArray, body: Obj, q: Obj, account?: string) => unknown;
  const routes: Array<[string, RegExp, Handler]> = [
    ['POST', /^\/v2\/core\/accounts$/, (_m, b) => v2Account(createAccountV2(b), b.include ?? [])],
    [
      'GET',
      /^\/v2\/core\/accounts\/([^/]+)$/,
      (m, _b, q) => v2Account(get('acct', 'account', m[1]!), ([] as string[]).concat(q.include ?? [])),
    ],
    [
      'POST',
      /^\/v2\/core\/accounts\/([^/]+)$/,
      (m, b) => {
        const a = get('acct', 'account', m[1]!);
        for (const k of ['display_name', 'contact_email', 'metadata'] as const)
          if (b[k] !== undefined) a[k] = b[k];
        return v2Account(a, b.include ?? []);
      },
    ],
    ['POST', /^\/v2\/core\/account_links$/, (_m, b) => createAccountLink(b)],
    ['GET', /^\/v1\/accounts\/([^/]+)$/, (m) => v1Account(get('acct', 'account', m[1]!))],
    ['POST', /^\/v1\/customers$/, (_m, b) => customer(b)],
    ['GET', /^\/v1\/customers\/([^/]+)$/, (m, _b, q) => expand(get('cus', 'customer', m[1]!), q)],
    [
      'GET',
      /^\/v1\/customers\/([^/]+)\/payment_methods$/,
      (m, _b, q) => {
        get('cus', 'customer', m[1]!);
        return list(
          [...objects.values()].filter((o) => o.object === 'payment_method' && o.customer === m[1]),
          q,
          `/v1/customers/${m[1]}/payment_methods`,
        );
      },
    ],
    [
      'POST',
      /^\/v1\/checkout\/sessions$/,
      (_m, b) => {
        const s = createCheckoutSession(b);
        s.url = `${base()}/checkout/${s.id}`;
        return s;
      },
    ],
    [
      'GET',
      /^\/v1\/checkout\/sessions\/([^/]+)$/,
      (m, _b, q) => expand(get('cs_test', 'checkout session', m[1]!), q),
    ],
    [
      'POST',
      /^\/v1\/checkout\/sessions\/([^/]+)\/expire$/,
      (m) => {
        const s = get('cs_test', 'checkout session', m[1]!);
        if (s.status !== 'open') throw invalid(`Only open sessions can be expired; ${s.id} is ${s.status}`);
        s.status = 'expired';
        emit('checkout.session.expired', s);
        return s;
      },
    ],
    ['POST', /^\/v1\/payment_intents$/, (_m, b) => createPaymentIntent(b)],
    ['GET', /^\/v1\/payment_intents\/([^/]+)$/, (m, _b, q) => expand(get('pi', 'payment intent', m[1]!), q)],
    ['GET', /^\/v1\/payment_methods\/([^/]+)$/, (m) => get('pm', 'payment method', m[1]!)],
    ['GET', /^\/v1\/setup_intents\/([^/]+)$/, (m) => get('seti', 'setup intent', m[1]!)],
    ['GET', /^\/v1\/charges\/([^/]+)$/, (m, _b, q) => expand(get('ch', 'charge', m[1]!), q)],
    ['POST', /^\/v1\/transfers$/, (_m, b) => createTransfer(b)],
    ['GET', /^\/v1\/transfers\/([^/]+)$/, (m) => get('tr', 'transfer', m[1]!)],
    [
      'GET',
      /^\/v1\/transfers$/,
      (_m, _b, q) =>
        list(
          [...objects.values()]
            .filter(
              (o) => o.object === 'transfer' && (!q.transfer_group || o.transfer_group === q.transfer_group),
            )
            .reverse(),
          q,
          '/v1/transfers',
        ),
    ],
    ['POST', /^\/v1\/transfers\/([^/]+)\/reversals$/, (m, b) => reverseTransfer(m[1]!, b)],
    ['POST', /^\/v1\/refunds$/, (_m, b) => createRefund(b)],
    ['GET', /^\/v1\/refunds\/([^/]+)$/, (m) => get('re', 'refund', m[1]!)],
    ['GET', /^\/v1\/disputes\/([^/]+)$/, (m) => get('dp', 'dispute', m[1]!)],
    [
      'GET',
      /^\/v1\/balance$/,
      (_m, _b, _q, account) => {
        const owner = account ?? 'platform';
        const m = balances.get(owner) ?? new Map();
        return {
          object: 'balance',
          available: [...m].map(([currency, amount]) => ({ amount, currency })),
          pending: [...m].map(([currency]) => ({ amount: 0, currency })),
          livemode: false,
        };
      },
    ],
    [
      'GET',
      /^\/v1\/balance_transactions$/,
      (_m, _b, q, account) => {
        const owner = account ?? 'platform';
        const f = createdFilter(q);
        return list(
          [...objects.values()]
            .filter(
              (o) =>
                o.object === 'balance_transaction' &&
                o._owner === owner &&
                f(o) &&
                (!q.type || o.type === q.type) &&
                (!q.source || o.source === q.source),
            )
            .reverse(),
          q,
          '/v1/balance_transactions',
        );
      },
    ],
    ['GET', /^\/v1\/balance_transactions\/([^/]+)$/, (m) => get('txn', 'balance transaction', m[1]!)],
    [
      'POST',
      /^\/v1\/payouts$/,
      (_m, b, _q, account) => {
        if (!account) throw invalid('This fake pays out connected accounts only (Stripe-Account header)');
        return createPayout(account, b);
      },
    ],
    ['GET', /^\/v1\/events\/([^/]+)$/, (m) => get('evt', 'event', m[1]!)],
    [
      'GET',
      /^\/v1\/events$/,
      (_m, _b, q) => list([...events].filter((e) => !q.type || e.type === q.type).reverse(), q, '/v1/events'),
    ],
  ];

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'api_error', message: String(err?.message ?? err) } }));
    });
  });

  async function readBody(req: IncomingMessage) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req'), ...headers });
    res.end(JSON.stringify(body));
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', base());
    const method = req.method ?? 'GET';
    const raw = await readBody(req);

    // Hosted pages a person's browser opens: onboarding and Checkout.
    if (url.pathname.startsWith('/connect/onboard/')) return onboardingPage(url, method, res);
    if (url.pathname.startsWith('/checkout/')) return checkoutPage(url, method, raw, res);

    if (req.headers.authorization !== `Bearer ${apiKey}`)
      return reply(res, 401, {
        error: { type: 'invalid_request_error', message: 'Invalid API Key provided' },
      });
    const account = (req.headers['stripe-account'] as string | undefined) ?? undefined;
    const key = req.headers['idempotency-key'] as string | undefined;
    requests.push({ method, path: url.pathname, idempotencyKey: key, account });

    const v2 = url.pathname.startsWith('/v2/');
    let body: Obj = {};
    try {
      body = raw ? (v2 ? JSON.parse(raw) : parseForm(raw)) : {};
    } catch {
      return reply(res, 400, { error: { type: 'invalid_request_error', message: 'Invalid request body' } });
    }
    const query = parseForm(url.search.slice(1));

    const fingerprint = createHash('sha256').update(`${method} ${url.pathname} ${raw}`).digest('hex');
    const scopeKey = key && method === 'POST' ? `${account ?? 'platform'}:${key}` : null;
    if (scopeKey) {
      const seen = idempotency.get(scopeKey);
      if (seen) {
        if (seen.fingerprint !== fingerprint)
          return reply(res, 400, {
            error: {
              type: 'idempotency_error',
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
            },
          });
        return reply(res, seen.status, seen.body, { 'idempotent-replayed': 'true' });
      }
      if (keysInUse.has(scopeKey))
        return reply(res, 409, {
          error: {
            type: 'idempotency_error',
            code: 'idempotency_key_in_use',
            message:
              'There is currently another in-progress request using this Idempotency Key (that probably means you submitted twice, and the other request is still going through). Please try again later.',
          },
        });
    }
    const slow = method === 'POST' ? slowAnswers.get(url.pathname) : undefined;
    if (scopeKey && slow) {
      keysInUse.add(scopeKey);
      await new Promise((resolve) => setTimeout(resolve, slow));
      keysInUse.delete(scopeKey);
    }

    const route = routes.find(([m, re]) => m === method && re.test(url.pathname));
    let status = 200;
    let out: unknown;
    if (!route) {
      status = 404;
      out = {
        error: {
          type: 'invalid_request_error',
          message: `Unrecognized request URL (${method}: ${url.pathname}).`,
        },
      };
    } else {
      try {
        const result = route[2](url.pathname.match(route[1])!, body, query, account) as Obj;
        out = result && typeof result === 'object' ? publicView(clone(result)) : result;
      } catch (err) {
        if (!(err instanceof StripeApiError)) throw err;
        status = err.status;
        out = { error: err.body };
      }
    }
    // Stripe replays the first answer, errors included, except 5xx.
    if (scopeKey && status < 500) idempotency.set(scopeKey, { fingerprint, status, body: out });
    const late = method === 'POST' ? lateAnswers.get(url.pathname) : undefined;
    if (late) await new Promise((resolve) => setTimeout(resolve, late));
    reply(res, status, out);
  }

  function html(res: ServerResponse, body: string) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(
      `<!doctype html><html><head><meta charset="utf-8"><title>Fake Stripe</title></head><body>${body}</body></html>`,
    );
  }
  function redirect(res: ServerResponse, to: string) {
    res.writeHead(302, { location: to });
    res.end();
  }

  /** Account Links are single-use and short-lived: a second visit or a late one goes to the refresh URL. */
  function onboardingPage(url: URL, method: string, res: ServerResponse) {
    const [, , , token, action] = url.pathname.split('/');
    const link = objects.get(`link_${token}`);
    if (!link) return reply(res, 404, { error: { message: 'No such link' } });
    const urls = link.use_case[link.use_case.type];
    const expired = Date.parse(link.expires_at) < Date.now();
    if (method === 'GET' && !action) {
      if (link._state !== 'new' || expired) return redirect(res, urls.refresh_url);
      link._state = 'opened';
      return html(
        res,
        `<h1>Fake Stripe onboarding</h1><p>Account ${link.account}</p>
<form method="post" action="/connect/onboard/${token}/submit"><button type="submit">Submit details</button></form>
<form method="post" action="/connect/onboard/${token}/later"><button type="submit">Finish later</button></form>`,
      );
    }
    if (method === 'POST' && (action === 'submit' || action === 'later')) {
      if (link._state !== 'opened') return redirect(res, urls.refresh_url);
      link._state = 'done';
      const a = objects.get(link.account)!;
      a._detailsSubmitted = true;
      if (action === 'submit') completeOnboarding(a.id);
      return redirect(res, urls.return_url ?? urls.refresh_url);
    }
    return reply(res, 405, { error: { message: 'Method not allowed' } });
  }

  function checkoutPage(url: URL, method: string, raw: string, res: ServerResponse) {
    const [, , sessionId, action] = url.pathname.split('/');
    const s = objects.get(sessionId ?? '');
    if (s?.object !== 'checkout.session') return reply(res, 404, { error: { message: 'No such session' } });
    if (method === 'GET' && !action) {
      const amount =
        s.amount_total === null
          ? ''
          : `${(s.amount_total / 100).toFixed(2)} ${String(s.currency).toUpperCase()}`;
      return html(
        res,
        `<h1>Fake Stripe Checkout</h1><p data-testid="amount">${amount}</p><p>Status: ${s.status}</p>
<form method="post" action="/checkout/${s.id}/pay"><button type="submit" name="card" value="4242">Pay</button>
<button type="submit" name="card" value="0002">Pay with a declining card</button></form>`,
      );
    }
    if (method === 'POST' && action === 'pay') {
      const decline = parseForm(raw).card === '0002';
      try {
        completeCheckout(s.id, { decline });
      } catch (err) {
        if (err instanceof StripeApiError) return reply(res, err.status, { error: err.body });
        throw err;
      }
      if (s.status !== 'complete') return html(res, '<p role="alert">Your card was declined.</p>');
      return redirect(res, String(s.success_url).replace('{CHECKOUT_SESSION_ID}', s.id));
    }
    return reply(res, 405, { error: { message: 'Method not allowed' } });
  }

  // ---------------------------------------------------------------- test controls

  /** The person finished onboarding: nothing due, transfers active; `account.updated` is sent. */
  function completeOnboarding(accountId: string) {
    const a = get('acct', 'account', accountId);
    Object.assign(a, {
      _requirements: [],
      _deadline: null,
      _pastDue: false,
      _detailsSubmitted: true,
      _transfersStatus: 'active',
    });
    accountUpdated(a);
    return v1Account(a);
  }

  /** Stripe asks for more: the fields become due by `deadline`; transfers stay active until it passes. */
  function requireInformation(
    accountId: string,
    fields: string[],
    opts: { deadline?: Date; pastDue?: boolean } = {},
  ) {
    const a = get('acct', 'account', accountId);
    a._requirements = fields.map((field) => ({ field }));
    a._deadline = opts.deadline ? Math.floor(opts.deadline.getTime() / 1000) : null;
    a._pastDue = opts.pastDue ?? false;
    if (a._pastDue) a._transfersStatus = 'inactive';
    accountUpdated(a);
    return v1Account(a);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  function base() {
    return `http://127.0.0.1:${port}`;
  }

  return {
    apiKey,
    webhookSecret,
    connectWebhookSecret,
    url: base(),
    host: '127.0.0.1',
    port,
    protocol: 'http' as const,
    /** Environment for a Plaza core that should talk to this fake. */
    env(): Record<string, string> {
      return {
        STRIPE_SECRET_KEY: apiKey,
        STRIPE_WEBHOOK_SECRET: `${webhookSecret},${connectWebhookSecret}`,
        STRIPE_API_URL: base(),
      };
    },
    /** A Stripe SDK client pointed at the fake (for tests that inspect it as Stripe would answer). */
    client() {
      return new Stripe(apiKey, { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: 0 });
    },
    setWebhookUrl(url: string | undefined) {
      webhookUrl = url;
    },
    /** Every API request received, in order (method, path, Idempotency-Key, Stripe-Account). */
    requests,
    /** Every webhook POST and the status it got. */
    deliveries,
    events,
    object<T = Obj>(objectId: string): T | undefined {
      const o = objects.get(objectId);
      return o ? (publicView(clone(o)) as T) : undefined;
    },
    objectsOf(kind: string): Obj[] {
      return [...objects.values()].filter((o) => o.object === kind).map((o) => publicView(clone(o)));
    },
    balance(owner: 'platform' | string, currency: string) {
      return balanceOf(owner, currency.toLowerCase());
    },
    completeOnboarding,
    requireInformation,
    completeCheckout: (sessionId: string, opts?: { decline?: boolean }) =>
      publicView(clone(completeCheckout(sessionId, opts))),
    createDispute: (chargeId: string, opts?: { amount?: number; reason?: string }) =>
      publicView(clone(createDispute(chargeId, opts))),
    closeDispute: (disputeId: string, outcome: 'won' | 'lost') =>
      publicView(clone(closeDispute(disputeId, outcome))),
    /** The connected account's bank payout of its available balance (after which reversals fail). */
    payOutConnected: (accountId: string, currency = 'usd') =>
      publicView(clone(createPayout(accountId, { currency }))),
    /** Answers to POST `path` (e.g. `/v1/transfers`) leave `ms` after the object was made; 0 stops. */
    answerLate(path: string, ms: number) {
      if (ms > 0) lateAnswers.set(path, ms);
      else lateAnswers.delete(path);
    },
    /**
     * POST `path` takes `ms` before Stripe makes the object; meanwhile its idempotency key is in
     * use and another request with it gets 409 `idempotency_key_in_use`, as on Stripe. 0 stops.
     */
    answerSlow(path: string, ms: number) {
      if (ms > 0) slowAnswers.set(path, ms);
      else slowAnswers.delete(path);
    },
    /** Keep new events instead of sending them, until `release`. */
    holdWebhooks() {
      holding = true;
    },
    /** Sends the held events: in order, reversed, and/or each twice. */
    async release(opts: { order?: 'sent' | 'reverse'; twice?: boolean } = {}) {
      holding = false;
      const batch = held.splice(0);
      if (opts.order === 'reverse') batch.reverse();
      for (const e of batch) {
        send(e);
        await this.flush();
        if (opts.twice) {
          send(e);
          await this.flush();
        }
      }
    },
    /** Sends an already sent event again (Stripe retries and redelivers). */
    async resend(eventId: string) {
      const e = events.find((x) => x.id === eventId);
      if (!e) throw new Error(`no event ${eventId}`);
      send(e);
      await this.flush();
    },
    /** Waits until every webhook POST started so far has been answered. */
    async flush() {
      while (inFlight.size) await Promise.all([...inFlight]);
    },
    async close() {
      await this.flush();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type FakeStripe = Awaited<ReturnType<typeof startFakeStripe>>;
