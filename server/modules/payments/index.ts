import { defineModule } from '../module.ts';
import { paymentRoutes } from './routes.ts';
import { createPaymentsService, type PaymentsService } from './service.ts';

export type { PayoutAccountView } from './payout-accounts.ts';
export type { PaymentProvider, ProviderName } from './provider.ts';
export type { PaymentsService } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    payments: PaymentsService;
  }
}

/**
 * Payments: the payment provider (Stripe, or the embedded sandbox without a
 * key), partners' payout accounts (Connect onboarding), Stripe webhooks.
 */
export default defineModule({
  name: 'payments',
  requires: ['audit'],
  tables: ['payments_payout_accounts', 'payments_provider_events', 'payments_sandbox_objects'],
  createService: ({ db, config, log, audit }) => createPaymentsService({ db, config, log, audit }),
  routes: ({ payments }) => paymentRoutes({ payments }),
});
