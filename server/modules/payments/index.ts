import { z } from 'zod';
import { defineModule } from '../module.ts';
import { PLATFORM_CHARGE_EVENT_TYPES } from './platform-charges.ts';
import { paymentRoutes } from './routes.ts';
import { createPaymentsService, type PaymentsService } from './service.ts';
import { PAYMENT_EVENT_TYPES, TRIAL_EVENT_TYPES } from './subscriptions.ts';

export type { PayoutAccountView } from './payout-accounts.ts';
export type { PlatformChargeRequest, PlatformCharges } from './platform-charges.ts';
export type { PaymentProvider, ProviderName } from './provider.ts';
export type { RefundView } from './refunds.ts';
export type { PaymentsService } from './service.ts';
export type { InvoiceView, SubscriptionView } from './subscriptions.ts';

declare module '../module.ts' {
  interface ModuleServices {
    payments: PaymentsService;
  }
}

const PaymentPayload = z.object({
  invoiceId: z.string(),
  subscriptionId: z.string(),
  appId: z.string(),
  kind: z.enum(['initial', 'renewal', 'usage']),
  amount: z.number().int().describe('Minor units'),
  currency: z.string(),
  reason: z.string().optional(),
});

/**
 * Payments: the payment provider (Stripe, or the embedded sandbox without a
 * key), partners' payout accounts (Connect onboarding), Stripe webhooks, and
 * paid installs (subscriptions, renewals, usage) recorded in the ledger.
 */
export default defineModule({
  name: 'payments',
  requires: ['audit', 'events', 'ledger', 'apps', 'organizations', 'installations', 'marketplace'],
  tables: [
    'payments_payout_accounts',
    'payments_provider_events',
    'payments_sandbox_objects',
    'payments_subscriptions',
    'payments_invoices',
    'payments_usage',
    'payments_refunds',
    'payments_disputes',
    'payments_platform_charges',
    'payments_platform_methods',
  ],
  // No scope: an account's payment events go to the app they are about (its `appId`) only,
  // never to other apps installed in the account.
  eventTypes: [
    {
      type: PAYMENT_EVENT_TYPES.succeeded,
      description: 'The account paid for an app (first payment, renewal or usage).',
      scope: null,
      payload: PaymentPayload,
    },
    {
      type: PAYMENT_EVENT_TYPES.failed,
      description: 'A renewal or usage charge failed; the subscription is past due until it is paid.',
      scope: null,
      payload: PaymentPayload,
    },
    {
      type: PAYMENT_EVENT_TYPES.refunded,
      description: 'A payment for an app was refunded (in full or in part).',
      scope: null,
      payload: PaymentPayload.extend({ refundId: z.string() }),
    },
    {
      type: TRIAL_EVENT_TYPES.started,
      description: "An account began a paid app's free trial (its subscription is trialing until trialEnd).",
      scope: null,
      payload: z.object({
        subscriptionId: z.string(),
        appId: z.string(),
        trialDays: z.number().int(),
        trialEnd: z.string(),
      }),
    },
    {
      type: TRIAL_EVENT_TYPES.ended,
      description:
        "A trial's outcome: converted when the first invoice after it was paid, not converted when the subscription was canceled before any payment.",
      scope: null,
      payload: z.object({
        subscriptionId: z.string(),
        appId: z.string(),
        trialEnd: z.string(),
        converted: z.boolean(),
        reason: z.enum(['paid', 'canceled']),
      }),
    },
    ...PLATFORM_CHARGE_EVENT_TYPES,
  ],
  createService: ({
    db,
    config,
    log,
    audit,
    ledger,
    events,
    apps,
    organizations,
    marketplace,
    extensions,
  }) => {
    const payments = createPaymentsService({
      db,
      config,
      log,
      audit,
      ledger,
      events,
      apps,
      organizations,
      marketplace,
    });
    extensions.add('installation.gate', payments.subscriptions.gate, 'payments');
    return payments;
  },
  jobs: (payments) => [
    {
      name: 'payments.renewals',
      everyMs: 60_000,
      handler: async () => {
        await payments.subscriptions.renewDue();
      },
    },
    {
      name: 'payments.refunds',
      everyMs: 60_000,
      handler: async () => {
        await payments.refunds.resumePending();
      },
    },
  ],
  routes: ({ payments }) => paymentRoutes({ payments }),
});
