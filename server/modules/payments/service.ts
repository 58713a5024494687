import type { Config } from '../../config.ts';
import type { Db } from '../../db/index.ts';
import { PlazaError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { AppsService } from '../apps/index.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import type { LedgerService, PayoutProviderPort } from '../ledger/index.ts';
import type { MarketplaceService } from '../marketplace/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import { createPayoutAccounts } from './payout-accounts.ts';
import { createPlatformCharges } from './platform-charges.ts';
import type { PaymentProvider } from './provider.ts';
import { createProviderEvents, type EventOutcome } from './provider-events.ts';
import { createRefunds } from './refunds.ts';
import { createSandboxProvider, type SandboxProvider } from './sandbox-adapter.ts';
import { createStripeProvider, type StripeProvider } from './stripe-adapter.ts';
import { createSubscriptions } from './subscriptions.ts';

/**
 * Payments: the provider (Stripe with a key, the embedded sandbox without),
 * partners' payout accounts, and the provider's events processed once each.
 */
export function createPaymentsService(deps: {
  db: Db;
  config: Config;
  log: Logger;
  audit: AuditService;
  ledger: LedgerService;
  events: EventsService;
  apps: AppsService;
  organizations: OrganizationsService;
  marketplace?: Pick<MarketplaceService, 'quote'>;
  now?: () => Date;
}) {
  const { db, config, log, audit, ledger, events, apps, organizations, marketplace } = deps;
  const stripe: StripeProvider | null = config.stripeSecretKey
    ? createStripeProvider({
        secretKey: config.stripeSecretKey,
        webhookSecrets: config.stripeWebhookSecret!,
        apiUrl: config.stripeApiUrl,
      })
    : null;
  const sandbox: SandboxProvider | null = stripe
    ? null
    : createSandboxProvider({ db, baseUrl: config.baseUrl });
  const provider: PaymentProvider = stripe ?? sandbox!;

  const providerEvents = createProviderEvents({ db, log, provider: provider.name });
  const payoutAccounts = createPayoutAccounts({ db, provider, audit, baseUrl: config.baseUrl });
  const subscriptions = createSubscriptions({
    db,
    log,
    provider,
    ledger,
    events,
    apps,
    organizations,
    marketplace,
    baseUrl: config.baseUrl,
    now: deps.now,
  });
  const refunds = createRefunds({ db, log, provider, ledger, events, audit });
  const platformCharges = createPlatformCharges({ db, log, provider, ledger, events });
  providerEvents.on('checkout.session.completed', platformCharges.onCheckoutCompleted);
  providerEvents.on('account.updated', payoutAccounts.onAccountEvent);
  providerEvents.on('charge.dispute.created', refunds.onDispute);
  providerEvents.on('charge.dispute.closed', refunds.onDispute);
  providerEvents.on('checkout.session.completed', subscriptions.onCheckoutCompleted);
  // The sandbox raises its events in-process, through the same path as Stripe's webhooks.
  sandbox?.setEventSink(async (event) => {
    try {
      await providerEvents.process(event);
    } catch (err) {
      log.error({ err, eventId: event.id, type: event.type }, 'payments: sandbox event failed');
    }
  });

  /** What the ledger's payout runs use to pay partners. */
  const payoutProvider: PayoutProviderPort = {
    name: provider.name,
    accountStatus: (orgId) => payoutAccounts.payoutStatus(orgId),
    transfer: (req) => provider.transfer(req),
    balanceTransactions: (range) => provider.balanceTransactions(range),
  };
  ledger.usePayoutProvider(payoutProvider);
  // Uninstalling stops renewal.
  events.subscribe({
    name: 'payments.uninstall',
    types: ['app.uninstalled'],
    handler: async (e) => {
      const p = e.payload as { accountId: string; appId: string };
      await subscriptions.cancel(p.accountId, p.appId);
    },
  });

  return {
    provider,
    /** Non-null only on the sandbox provider (its hosted pages call it). */
    sandbox,
    payoutAccounts,
    providerEvents,
    payoutProvider,
    subscriptions,
    refunds,
    /** The platform's own charges (plugins' plans and credits). */
    platformCharges,

    /** Which provider runs, as every money answer and page shows it. */
    providerInfo() {
      return { provider: provider.name, mode: provider.mode, sandbox: provider.name === 'sandbox' };
    },

    /** Verifies and processes one Stripe webhook delivery. */
    async stripeWebhook(
      raw: Buffer,
      signature: string | undefined,
    ): Promise<{ eventId: string; outcome: EventOutcome }> {
      if (!stripe)
        throw new PlazaError(
          'PLAZA_NOT_FOUND',
          'Stripe is not configured on this Plaza (it runs on the sandbox provider)',
        );
      if (!signature)
        throw new PlazaError('PLAZA_VALIDATION', 'the Stripe-Signature header is missing', {
          fields: [{ field: 'header.stripe-signature', reason: 'missing' }],
        });
      let event: ReturnType<StripeProvider['parseWebhook']>;
      try {
        event = stripe.parseWebhook(raw, signature);
      } catch (err) {
        throw new PlazaError(
          'PLAZA_VALIDATION',
          'the Stripe signature does not verify (wrong secret, changed body or older than 300 s)',
          {
            fields: [{ field: 'header.stripe-signature', reason: 'does not verify' }],
            cause: err,
          },
        );
      }
      return { eventId: event.id, outcome: await providerEvents.process(event) };
    },
  };
}

export type PaymentsService = ReturnType<typeof createPaymentsService>;
