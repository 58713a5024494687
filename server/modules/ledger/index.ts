import { z } from 'zod';
import { defineModule } from '../module.ts';
import { ledgerRoutes } from './routes.ts';
import { createLedgerService, type LedgerService } from './service.ts';

export { CURRENCY_EXPONENTS, formatMinor, isCurrency, MAX_AMOUNT } from './currency.ts';
export type * from './port.ts';
export { LEDGER_EVENTS } from './port.ts';
export { Currency, MinorUnits } from './routes.ts';
export type { LedgerService } from './service.ts';

declare module '../module.ts' {
  interface ModuleServices {
    ledger: LedgerService;
  }
}

const PayoutPayload = z.object({
  payoutId: z.string(),
  partnerOrgId: z.string(),
  amount: z.number().int().describe('Minor units'),
  currency: z.string(),
  reason: z.string().optional(),
});

/** The double-entry ledger, the revenue-share schedule, payout runs, statements and tax figures. */
export default defineModule({
  name: 'ledger',
  requires: ['events'],
  tables: [
    'ledger_accounts',
    'ledger_balances',
    'ledger_transactions',
    'ledger_entries',
    'ledger_closings',
    'ledger_share_rules',
    'ledger_charges',
    'ledger_partner_lines',
    'ledger_partner_totals',
    'ledger_partner_terms',
    'ledger_refunds',
    'ledger_payout_runs',
    'ledger_payouts',
    'ledger_payout_holds',
    'ledger_reconciliations',
    'ledger_disputes',
  ],
  scopes: [{ name: 'payouts:read', consentText: 'See your payouts and earnings', sensitivity: 'financial' }],
  eventTypes: [
    {
      type: 'payout.created',
      description: 'A payout run started paying a partner.',
      scope: 'payouts:read',
      payload: PayoutPayload,
    },
    {
      type: 'payout.paid',
      description: 'A payout reached the partner.',
      scope: 'payouts:read',
      payload: PayoutPayload,
    },
    {
      type: 'payout.failed',
      description: 'A payout transfer was refused; the amount is available again.',
      scope: 'payouts:read',
      payload: PayoutPayload,
    },
    {
      type: 'payout.held',
      description: 'A partner with an available balance could not be paid (reason given).',
      scope: 'payouts:read',
      payload: PayoutPayload,
    },
  ],
  createService: ({ db, config, events, log }) =>
    createLedgerService({ db, events, log, payoutLeaseMs: config.payoutLeaseMs }),
  jobs: (ledger) => [
    // Hourly look: the run itself happens once on each payout day.
    {
      name: 'ledger.payout_schedule',
      handler: () => ledger.scheduledPayoutRun(),
      everyMs: 3_600_000,
      attempts: 1,
    },
    { name: 'ledger.reconcile', handler: () => ledger.dailyReconciliation(), everyMs: 86_400_000 },
    { name: 'ledger.check_balances', handler: () => ledger.dailyBalanceCheck(), everyMs: 86_400_000 },
    {
      name: 'ledger.run_payouts',
      handler: (data: { by: string }) => ledger.runPayouts(data?.by ?? 'schedule').then(() => {}),
      // A run is safe to repeat (same transfer keys, half-sent payouts finished first), so a run whose
      // worker died is taken again by another worker once the lease runs out.
      attempts: 3,
    },
  ],
  // Payments requires the ledger and hands it its provider (usePayoutProvider) when created.
  routes: ({ ledger }) => ledgerRoutes({ ledger }),
});
