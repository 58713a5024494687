import { definePlugin, z } from '../../server/plugin-api/index.ts';
import { createCallLimit } from './call-limit.ts';
import { type BillingContext, type Ctx, subscriptionOf, usageView } from './context.ts';
import { createCredits } from './credits.ts';
import { createInvoices } from './invoices.ts';
import { createMetering } from './metering.ts';
import { createPlans } from './plans.ts';
import { creditRoutes } from './routes-credits.ts';
import { METERABLE_CORE_EVENTS, meteringRoutes } from './routes-metering.ts';
import { planRoutes } from './routes-plans.ts';
import { createSubscriptions } from './subscriptions.ts';

const Money = z.object({ amount: z.number().int(), currency: z.string() });

/**
 * Billing: the platform's plans for accounts and agencies, usage metering,
 * prepaid credits, invoices, limits and dunning. It reaches the core only
 * through the plugin API: the ledger and payments ports, the
 * `organization.limits` extension point, events, jobs and mail.
 */
export default definePlugin({
  name: 'billing',
  version: '0.1.0',
  description: 'Plans, usage metering, prepaid credits, invoices, limits and dunning',
  config: z.object({
    /** How late a usage event may arrive and still count in its period. */
    latenessHours: z.coerce.number().int().min(0).max(2160).default(72),
    /**
     * How long after a usage period ends its invoice is finalized (default: the lateness).
     * Events of a period already invoiced are refused, so a shorter delay trades late events for speed.
     */
    invoiceDelayHours: z.coerce.number().int().min(0).max(2160).optional(),
    reservationTtlSeconds: z.coerce.number().int().min(1).max(86_400).default(300),
    /** How often renewals, invoice finalization, dunning and expired reservations are looked at. */
    cycleIntervalMs: z.coerce.number().int().min(1000).default(60_000),
    graceDays: z.coerce.number().int().min(0).max(60).default(7),
    /** Features held to the free plan once the grace period is over, in this order; one left out never degrades. */
    degradeOrder: z
      .string()
      .regex(
        /^(contacts|seats|installations)(,(contacts|seats|installations))*$/,
        'contacts, seats, installations',
      )
      .default('installations,seats,contacts'),
    /** 0: all features of degradeOrder degrade at once; n: one more every n days after the grace period. */
    degradeEveryDays: z.coerce.number().int().min(0).max(60).default(0),
    dunningRetryDays: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'comma-separated whole days')
      .default('1,3,5'),
    trialReminderDays: z
      .string()
      .regex(/^\d+(,\d+)*$/, 'comma-separated whole days')
      .default('7,3,1'),
    issuer: z.string().min(1).max(40).default('platform'),
    invoicePrefix: z
      .string()
      .regex(/^[A-Z0-9-]{0,12}$/)
      .default('INV'),
    /** Price of one credit in minor units of creditCurrency, for top-ups. */
    creditUnitAmount: z.coerce.number().int().min(1).default(1),
    creditCurrency: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .default('USD'),
    /** Abuse limits: refused deductions in a row that pause spending, for how long; 0 turns it off. */
    blockAfterRefusals: z.coerce.number().int().min(0).default(5),
    blockMinutes: z.coerce.number().int().min(1).max(1440).default(15),
    /** Credits spent in an hour that raise billing.credits_spend_alert (once per hour); 0 turns it off. */
    spendAlertPerHour: z.coerce.number().int().min(0).default(500),
    /**
     * Abuse limit of the metered routes (events, events/batch, credits/deduct, credits/reservations):
     * calls per app installation and minute, counted in the database so it holds across processes; 0 turns it off.
     */
    meteredCallsPerMinute: z.coerce.number().int().min(0).max(100_000).default(30),
    /** Default of the per-organization low-balance threshold. */
    lowBalanceThreshold: z.coerce.number().int().min(0).default(100),
    /** The web app's address, for links in emails. */
    appUrl: z.string().default('http://localhost:3000'),
  }),
  settings: {
    schema: z.object({
      lowBalanceThreshold: z
        .number()
        .int()
        .min(0)
        .default(100)
        .describe('Send the low-balance alert when credits fall below this'),
      billingEmail: z
        .string()
        .max(320)
        .default('')
        .describe('Where invoices and reminders go (default: admins)'),
      autoTopUpCredits: z
        .number()
        .int()
        .min(0)
        .max(1_000_000)
        .default(0)
        .describe(
          'Buy this many credits with the saved card when the balance falls below the threshold (0: off)',
        ),
    }),
    minRole: 'admin',
    orgKinds: ['account', 'agency'],
  },
  scopes: [
    { name: 'billing:usage', consentText: 'Report your usage to your plan', sensitivity: 'financial' },
    { name: 'billing:credits', consentText: 'Spend your prepaid credits', sensitivity: 'financial' },
    { name: 'billing:read', consentText: 'See your plan and invoices', sensitivity: 'financial' },
  ],
  eventTypes: [
    {
      type: 'billing.invoice_finalized',
      description: 'An invoice was finalized: numbered, immutable, due.',
      scope: 'billing:read',
      payload: z.object({ invoiceId: z.string(), number: z.string(), total: Money }),
    },
    {
      type: 'billing.invoice_paid',
      description: 'An invoice was paid.',
      scope: 'billing:read',
      payload: z.object({ invoiceId: z.string(), number: z.string(), total: Money }),
    },
    {
      type: 'billing.subscription_changed',
      description: 'The plan or the state of a subscription changed.',
      scope: 'billing:read',
      payload: z.object({ subscriptionId: z.string(), plan: z.string(), status: z.string() }),
    },
    {
      type: 'billing.credits_spend_alert',
      description: "The account's credits spent in the last hour reached the alert threshold.",
      scope: 'billing:credits',
      payload: z.object({ spentLastHour: z.number().int(), threshold: z.number().int() }),
    },
    {
      type: 'billing.credits_low',
      description: "The account's credits fell below its low-balance threshold.",
      scope: 'billing:credits',
      payload: z.object({ balance: z.number().int(), threshold: z.number().int() }),
    },
  ],
  errors: {
    PLAZA_BILLING_INSUFFICIENT_CREDITS: { status: 409, title: 'Not enough credits' },
    PLAZA_BILLING_IDEMPOTENCY_KEY_REUSED: {
      status: 409,
      title: 'idempotencyKey already used for another debit',
    },
    PLAZA_BILLING_RESERVATION_CLOSED: { status: 409, title: 'The reservation is no longer held' },
    PLAZA_BILLING_SPENDING_BLOCKED: {
      status: 429,
      title: 'Spending credits is paused after repeated refusals',
    },
    PLAZA_BILLING_EVENT_CONFLICT: {
      status: 409,
      title: 'transactionId already recorded with other values',
    },
    PLAZA_BILLING_DUPLICATE: { status: 409, title: 'Already exists' },
    PLAZA_BILLING_PLAN_UNAVAILABLE: { status: 409, title: 'The plan cannot be chosen now' },
  },
  web: {
    pages: [
      {
        path: 'plan',
        component: 'PlanPage.vue',
        title: 'Plan & billing',
        area: 'org',
        orgKinds: ['account', 'agency'],
      },
      { path: 'plans', component: 'PlansPage.vue', title: 'Plans', area: 'operator' },
      { path: 'subscribers', component: 'SubscribersPage.vue', title: 'Subscribers', area: 'operator' },
    ],
  },
  setup(ctx) {
    const c = ctx as unknown as Ctx;
    const metering = createMetering(ctx.db, {
      latenessMs: ctx.config.latenessHours * 3_600_000,
      async closedBefore(accountId) {
        const r = await ctx.db.maybeOne<{ end: Date | null }>(
          "SELECT max(usage_end) AS end FROM billing_invoices WHERE organization_id = $1 AND status <> 'draft'",
          [accountId],
        );
        return r?.end ? new Date(r.end) : null;
      },
    });
    const plans = createPlans(ctx.db);
    const credits = createCredits(
      ctx.db,
      {
        async threshold(accountId, tx) {
          return (await ctx.settings.get(accountId, tx)).lowBalanceThreshold;
        },
        async lowBalance(tx, low) {
          await ctx.events.emit(tx, low.accountId, 'billing.credits_low', {
            balance: low.balance,
            threshold: low.threshold,
          });
        },
        async spendAlert(tx, alert) {
          await ctx.events.emit(tx, alert.accountId, 'billing.credits_spend_alert', {
            spentLastHour: alert.spentLastHour,
            threshold: alert.threshold,
          });
        },
        // Paid credits are deferred revenue (customer_credit_liability) until spent: spending moves
        // their value to revenue, up to what the account prepaid (paid credits count as spent
        // first; granted ones were never revenue). The wallet lock serializes an account's spends.
        async committed(tx, spent) {
          const account = { kind: 'customer_credit_liability' as const, party: spent.accountId };
          const prepaid = await ctx.ledger.balance(account, ctx.config.creditCurrency, tx);
          const value = BigInt(spent.credits) * BigInt(ctx.config.creditUnitAmount);
          const amount = value < prepaid ? value : prepaid;
          if (amount > 0n)
            await ctx.ledger.post(tx, {
              idempotencyKey: `credits_used:${spent.debitId}`,
              currency: ctx.config.creditCurrency,
              description: `${spent.credits} credits used`,
              sourceRef: { kind: 'credits_used', id: spent.debitId },
              entries: [
                { account, direction: 'debit', amount },
                { account: { kind: 'platform_revenue' }, direction: 'credit', amount },
              ],
            });
        },
      },
      ctx.config,
    );
    const callLimit = createCallLimit(ctx.db, ctx.config.meteredCallsPerMinute);
    const b: BillingContext = {
      ctx: c,
      metering,
      credits,
      plans,
      callLimit,
      subscriptionOf: (orgId, q) => subscriptionOf(c, orgId, q),
      usageOf: (accountId, at) => usageView({ ctx: c, metering, plans }, accountId, at),
    };

    // Core events feed meters whose coreEvent names them: one unit per event, keyed on the
    // event id so a redelivery counts once.
    ctx.events.subscribe([...METERABLE_CORE_EVENTS], async (event) => {
      if (!event.organizationId) return;
      const fed = [...(await metering.meters()).values()].filter((m) => m.coreEvent === event.type);
      if (!fed.length) return;
      await metering.ingest(
        event.organizationId,
        fed.map((m) => ({
          transactionId: `core:${event.id}:${m.key}`,
          meter: m.key,
          value: 1,
          uniqueKey: event.id,
          timestamp: new Date(event.createdAt),
        })),
        { lateness: false },
      );
    });

    ctx.jobs.define({
      name: 'release-reservations',
      handler: async () => {
        const n = await credits.releaseExpired();
        if (n) ctx.log.info({ released: n }, 'expired credit reservations released');
        await callLimit.prune();
      },
    });
    ctx.jobs.repeat('release-reservations', Math.max(1000, Math.min(ctx.config.cycleIntervalMs, 30_000)));

    const invoices = createInvoices(b);
    const subs = createSubscriptions(b, invoices);

    // Plan limits and degradation: core asks before it creates a contact, a member or an installation.
    ctx.extend('organization.limits', { check: (input) => subs.checkLimit(input) });

    ctx.jobs.define({ name: 'cycle', handler: () => subs.cycle() });
    ctx.jobs.repeat('cycle', ctx.config.cycleIntervalMs);

    // Payments answer at least once, also for checkouts paid on the payment page.
    ctx.events.subscribe(['platform_charge.succeeded', 'platform_charge.failed'], async (event) => {
      const p = event.payload as {
        owner: string;
        reference: string;
        chargeId: string | null;
        reason?: string;
        settles?: { kind: 'customer_receivable'; party: string };
      };
      if (p.owner !== 'plugin:billing') return;
      const [kind, id] = p.reference.split(':');
      const ok = event.type === 'platform_charge.succeeded';
      if (kind === 'invoice')
        await (ok
          ? subs.paid(id, p.chargeId ?? undefined, !!p.settles)
          : subs.failed(id, p.reason ?? 'declined'));
      else if (kind === 'topup' && ok) await topUpPaid(id);
    });

    // Auto top-up: when the balance falls below the threshold, buy the organization's chosen
    // amount with its saved card; one try per low-balance event (the top-up id is derived from it).
    ctx.events.subscribe(['billing.credits_low'], async (event) => {
      const accountId = event.organizationId;
      if (!accountId) return;
      const { autoTopUpCredits } = await ctx.settings.get(accountId);
      if (!autoTopUpCredits) return;
      const id = `ctu_auto_${event.id}`;
      const amount = autoTopUpCredits * ctx.config.creditUnitAmount;
      await ctx.db.query(
        `INSERT INTO billing_top_ups (id, account_id, credits, amount, currency, status)
         VALUES ($1, $2, $3, $4, $5, 'pending') ON CONFLICT DO NOTHING`,
        [id, accountId, autoTopUpCredits, amount, ctx.config.creditCurrency],
      );
      const charge = await ctx.payments.chargeSavedMethod({
        organizationId: accountId,
        amount: BigInt(amount),
        currency: ctx.config.creditCurrency,
        description: `Automatic top-up of ${autoTopUpCredits} credits`,
        idempotencyKey: `topup:${id}`,
        settles: { kind: 'customer_credit_liability', party: accountId },
      });
      if (charge.status === 'succeeded') await topUpPaid(id);
      else
        await ctx.db.query(
          "UPDATE billing_top_ups SET status = 'failed' WHERE id = $1 AND status = 'pending'",
          [id],
        );
    });

    async function topUpPaid(topUpId: string) {
      const t = await ctx.db.maybeOne('SELECT * FROM billing_top_ups WHERE id = $1', [topUpId]);
      if (!t) return;
      // The grant is once per reference, so a redelivered event adds nothing.
      await credits.grant(t.account_id, {
        amount: Number(t.credits),
        source: 'top_up',
        reference: `topup:${t.id}`,
        description: `Top-up of ${t.credits} credits`,
      });
      await ctx.db.query(
        "UPDATE billing_top_ups SET status = 'paid', paid_at = now() WHERE id = $1 AND status = 'pending'",
        [t.id],
      );
    }

    meteringRoutes(b);
    creditRoutes(b);
    planRoutes(b, subs, invoices);
  },
});
