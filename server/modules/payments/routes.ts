import { z } from 'zod';
import { PlazaError } from '../../errors.ts';
import { readRawBody } from '../../http/body.ts';
import { type Access, defineRoute } from '../../http/route.ts';
import { describeRequirement } from './payout-accounts.ts';
import type { PaymentsService } from './service.ts';

const PARTNER_MEMBER: Access = { kind: 'org', orgKinds: ['developer', 'agency'] };
const PARTNER_ADMIN: Access = { kind: 'org', orgKinds: ['developer', 'agency'], minRole: 'admin' };
const OrgParams = z.object({ orgId: z.string() });

const ProviderInfo = z
  .object({
    provider: z.enum(['stripe', 'sandbox']),
    mode: z.enum(['live', 'test', 'sandbox']),
    sandbox: z.boolean().describe('True on the embedded sandbox: no real money moves'),
  })
  .meta({ id: 'PaymentProviderInfo' });

const PayoutAccount = z
  .object({
    organizationId: z.string(),
    provider: z.string(),
    sandbox: z.boolean().describe('The account lives on the embedded sandbox provider (no real money)'),
    state: z
      .enum(['not_connected', 'onboarding', 'restricted', 'action_required', 'active'])
      .describe(
        'active and action_required can receive payouts; action_required has information due by a deadline',
      ),
    accountId: z.string().nullable().describe('The connected account id at the provider'),
    canReceivePayouts: z.boolean(),
    payoutsEnabled: z.boolean(),
    chargesEnabled: z.boolean(),
    detailsSubmitted: z.boolean(),
    requirements: z.object({
      currentlyDue: z.array(z.object({ name: z.string(), description: z.string() })),
      pastDue: z.array(z.object({ name: z.string(), description: z.string() })),
      deadline: z.string().nullable().describe('When what is due must be provided (ISO 8601)'),
    }),
    disabledReason: z.string().nullable(),
    holdReason: z.string().nullable().describe('Why payouts are held, in words; null when they are not'),
    syncedAt: z.string().nullable().describe('When the state was last read from the provider'),
  })
  .meta({ id: 'PayoutAccount' });

const OnboardingLink = z
  .object({
    url: z.string().describe('Open it once, soon: it is single-use and expires within minutes'),
    expiresAt: z.string(),
  })
  .meta({ id: 'PayoutOnboardingLink' });

const Connect = z
  .object({
    country: z
      .string()
      .regex(/^[A-Z]{2}$/, { message: 'must be an ISO 3166-1 alpha-2 country code in capitals, e.g. US' })
      .default('US')
      .describe('Country of the business receiving payouts'),
    email: z.email().optional().describe('Contact email for the payout account (default: none)'),
  })
  .meta({ id: 'PayoutAccountConnect' });

const named = (names: string[]) => names.map((name) => ({ name, description: describeRequirement(name) }));
const shape = (v: Awaited<ReturnType<PaymentsService['payoutAccounts']['status']>>) => ({
  ...v,
  requirements: {
    currentlyDue: named(v.requirements.currentlyDue),
    pastDue: named(v.requirements.pastDue),
    deadline: v.requirements.deadline,
  },
});

const Money = z.number().int().describe('Minor units');
const PricingView = z
  .record(z.string(), z.unknown())
  .describe('The price the customer agreed to (the version pricing)');
const Invoice = z
  .object({
    id: z.string(),
    kind: z.enum(['initial', 'renewal', 'usage']),
    amount: Money,
    currency: z.string(),
    status: z.enum(['open', 'paid', 'failed', 'void']),
    periodStart: z.string().nullable(),
    periodEnd: z.string().nullable(),
    paidAt: z.string().nullable(),
    amountRefunded: Money,
    failure: z.string().nullable(),
  })
  .meta({ id: 'Invoice' });
const Subscription = z
  .object({
    id: z.string(),
    accountId: z.string(),
    appId: z.string(),
    appName: z.string(),
    status: z.enum(['pending_payment', 'trialing', 'active', 'past_due', 'canceled']),
    pricing: PricingView,
    provider: z.string(),
    sandbox: z.boolean(),
    trialEnd: z.string().nullable(),
    currentPeriodStart: z.string().nullable(),
    currentPeriodEnd: z.string().nullable(),
    usageCap: Money.nullable(),
    usage: z.object({ quantity: z.number().int(), amount: Money }).nullable(),
    payUrl: z.string().nullable().describe('Where to pay what is due'),
    canceledAt: z.string().nullable(),
    invoices: z.array(Invoice),
  })
  .meta({ id: 'Subscription' });
const UsageReport = z
  .object({
    quantity: z.number().int().min(1).max(1_000_000).describe('Units used (the pricing unit, e.g. messages)'),
  })
  .meta({ id: 'UsageReport' });
const UsageAnswer = z
  .object({
    replayed: z.boolean().describe('True when this key was reported before (nothing was counted again)'),
    subscriptionId: z.string(),
    periodStart: z.string(),
    periodEnd: z.string(),
    usedQuantity: z.number().int(),
    usedAmount: Money,
    cap: Money,
    currency: z.string(),
  })
  .meta({ id: 'UsageRecorded' });
const ACCOUNT_MEMBER: Access = { kind: 'org', orgKinds: ['account'] };
const ACCOUNT_ADMIN: Access = { kind: 'org', orgKinds: ['account'], minRole: 'admin' };

const Refund = z
  .object({
    id: z.string(),
    invoiceId: z.string(),
    amount: Money,
    currency: z.string(),
    status: z.enum(['pending', 'succeeded', 'failed']),
    reason: z.string().nullable(),
    reversals: z
      .array(z.object({ partner: z.string(), transferId: z.string(), reversalId: z.string(), amount: Money }))
      .describe("Partners' transfers taken back before the customer was refunded"),
    unreversed: z
      .array(
        z.object({ partner: z.string(), transferId: z.string().nullable(), amount: Money, why: z.string() }),
      )
      .describe("Shares a partner was already paid: receivables netted from the partner's next payouts"),
    failure: z.string().nullable(),
    createdAt: z.string(),
    completedAt: z.string().nullable(),
  })
  .meta({ id: 'Refund' });
const RefundRequest = z
  .object({
    amount: z
      .number()
      .int({ message: 'must be whole minor units' })
      .positive({ message: 'must be more than 0' })
      .optional()
      .describe('Minor units; default what is left of the invoice'),
    reason: z.string().trim().max(500).optional(),
  })
  .meta({ id: 'RefundRequest' });

const SandboxDispute = z
  .object({
    id: z.string(),
    invoiceId: z.string().nullable(),
    amount: Money,
    fee: Money.describe("Minor units: the provider's dispute fee, lost whatever the outcome"),
    currency: z.string(),
    reason: z.string().nullable(),
    status: z.string().describe('needs_response while open; won or lost once closed'),
    reversals: z
      .array(z.object({ partner: z.string(), transferId: z.string(), reversalId: z.string(), amount: Money }))
      .describe("Lost: partners' paid shares taken back from their transfers"),
    unreversed: z
      .array(
        z.object({ partner: z.string(), transferId: z.string().nullable(), amount: Money, why: z.string() }),
      )
      .describe("Lost: shares the provider would not reverse, netted from the partner's next payouts"),
    openedAt: z.string(),
    closedAt: z.string().nullable(),
    sandbox: z.literal(true).describe('Simulated on the embedded sandbox provider: no real money'),
  })
  .meta({ id: 'SandboxDispute' });

const STRIPE_WEBHOOK_BODY = { contentTypes: ['application/json'], maxBytes: 1024 * 1024 };

export function paymentRoutes({ payments }: { payments: PaymentsService }) {
  const sandbox = () => {
    if (!payments.sandbox)
      throw new PlazaError('PLAZA_NOT_FOUND', 'this Plaza runs on Stripe; the sandbox provider is off');
    return payments.sandbox;
  };
  return [
    defineRoute({
      method: 'get',
      path: '/v1/payments/provider',
      summary: 'Which payment provider runs (Stripe or the sandbox)',
      tag: 'Payments',
      access: { kind: 'public' },
      response: ProviderInfo,
      handler: async () => payments.providerInfo(),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/payouts/account',
      summary: "The partner's payout account and why payouts are held",
      tag: 'Payouts',
      access: PARTNER_MEMBER,
      params: OrgParams,
      response: PayoutAccount,
      handler: async ({ org }) => shape(await payments.payoutAccounts.status(org.org.id)),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/payouts/account',
      summary: 'Connect a payout account (once; again returns it)',
      tag: 'Payouts',
      access: PARTNER_ADMIN,
      params: OrgParams,
      body: Connect,
      response: PayoutAccount,
      handler: async ({ org, body }) =>
        shape(
          await payments.payoutAccounts.connect(org, { country: body.country, email: body.email ?? null }),
        ),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/payouts/account/onboarding-link',
      summary: 'A fresh single-use onboarding link for the payout account',
      tag: 'Payouts',
      access: PARTNER_ADMIN,
      params: OrgParams,
      response: OnboardingLink,
      handler: async ({ org }) => payments.payoutAccounts.onboardingLink(org),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/payouts/account/refresh',
      summary: 'Read the payout account from the provider now',
      tag: 'Payouts',
      access: PARTNER_MEMBER,
      params: OrgParams,
      response: PayoutAccount,
      handler: async ({ org }) => shape(await payments.payoutAccounts.sync(org.org.id)),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/payments/stripe/webhook',
      summary: 'Stripe webhooks (signed; each event processed once)',
      tag: 'Payments',
      access: { kind: 'public' },
      rawBody: STRIPE_WEBHOOK_BODY,
      unlimited: true,
      response: z.object({
        received: z.literal(true),
        eventId: z.string(),
        outcome: z.enum(['processed', 'duplicate', 'ignored']),
      }),
      handler: async ({ ctx }) => {
        const { bytes } = await readRawBody(ctx, STRIPE_WEBHOOK_BODY);
        const result = await payments.stripeWebhook(bytes, ctx.get('stripe-signature') || undefined);
        return { received: true as const, ...result };
      },
    }),

    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/subscriptions',
      summary: "The account's paid apps: subscriptions and their invoices",
      tag: 'Payments',
      access: ACCOUNT_MEMBER,
      params: OrgParams,
      response: z.object({ data: z.array(Subscription) }),
      handler: async ({ org }) => ({ data: await payments.subscriptions.list(org.org.id) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/subscriptions/:subscriptionId/pay-link',
      summary: 'A payment link for what is due on a subscription (a failed renewal)',
      tag: 'Payments',
      access: ACCOUNT_ADMIN,
      params: z.object({ orgId: z.string(), subscriptionId: z.string() }),
      response: z.object({ url: z.string() }),
      handler: async ({ org, params }) => ({
        url: await payments.subscriptions.payLink(org.org.id, params.subscriptionId),
      }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/payments/invoices/:invoiceId/refunds',
      summary: 'Operator: refund an invoice (in full or in part)',
      tag: 'Payments',
      access: { kind: 'platform', roles: ['admin'] },
      params: z.object({ invoiceId: z.string() }),
      body: RefundRequest,
      status: 201,
      idempotent: true,
      response: Refund,
      handler: async ({ actor, params, body }) =>
        payments.refunds.refund({
          actor,
          invoiceId: params.invoiceId,
          amount: body.amount,
          reason: body.reason,
          via: 'operator',
        }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/payments/invoices/:invoiceId/sandbox-dispute',
      // What a card network does on Stripe, so the dispute flow (held shares, won or lost, reversals)
      // can be tried with nothing configured.
      summary: 'Sandbox: simulate the customer disputing a paid invoice (404 on Stripe)',
      tag: 'Payments sandbox',
      access: { kind: 'platform', roles: ['admin'] },
      params: z.object({ invoiceId: z.string() }),
      body: z.object({
        amount: z
          .number()
          .int({ message: 'must be whole minor units' })
          .positive({ message: 'must be more than 0' })
          .optional()
          .describe('Minor units; default what is left of the charge'),
        reason: z.string().trim().min(1).max(100).optional().describe('Default fraudulent'),
      }),
      status: 201,
      response: SandboxDispute,
      handler: async ({ params, body }) => ({
        ...(await payments.refunds.simulateDispute(params.invoiceId, body)),
        sandbox: true as const,
      }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/payments/invoices/:invoiceId/sandbox-dispute/close',
      summary: "Sandbox: close the invoice's open simulated dispute, won or lost (404 on Stripe)",
      tag: 'Payments sandbox',
      access: { kind: 'platform', roles: ['admin'] },
      params: z.object({ invoiceId: z.string() }),
      body: z.object({ outcome: z.enum(['won', 'lost']) }),
      response: SandboxDispute,
      handler: async ({ params, body }) => ({
        ...(await payments.refunds.simulateDisputeOutcome(params.invoiceId, body.outcome)),
        sandbox: true as const,
      }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/organizations/:orgId/invoices/:invoiceId/refunds',
      summary: "Developer: refund an invoice of one of the organization's apps",
      tag: 'Payments',
      access: { kind: 'org', orgKinds: ['developer'], minRole: 'admin' },
      params: z.object({ orgId: z.string(), invoiceId: z.string() }),
      body: RefundRequest,
      status: 201,
      idempotent: true,
      response: Refund,
      handler: async ({ org, params, body }) =>
        payments.refunds.refund({
          actor: org.actor,
          invoiceId: params.invoiceId,
          amount: body.amount,
          reason: body.reason,
          via: 'developer',
          developerOrgId: org.org.id,
        }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/app/usage',
      summary: 'App: report usage (Idempotency-Key of the app, counted against the approved cap)',
      tag: 'App API',
      access: { kind: 'app', scope: null },
      body: UsageReport,
      response: UsageAnswer,
      handler: async ({ app, body, ctx }) => {
        const key = ctx.get('idempotency-key');
        if (!key || key.length > 255)
          throw new PlazaError(
            'PLAZA_VALIDATION',
            'send an Idempotency-Key header (at most 255 characters) with each usage report',
            {
              fields: [{ field: 'header.idempotency-key', reason: key ? 'too long' : 'missing' }],
            },
          );
        return payments.subscriptions.reportUsage(app, { quantity: body.quantity, key });
      },
    }),

    // The sandbox provider's hosted pages (web pages under /sandbox/...) call these.
    defineRoute({
      method: 'get',
      path: '/v1/payments/sandbox/onboarding/:token',
      summary: 'Sandbox: open an onboarding link (uses it up)',
      tag: 'Payments sandbox',
      access: { kind: 'public' },
      params: z.object({ token: z.string().min(1).max(100) }),
      response: z.object({
        sandbox: z.literal(true),
        accountId: z.string(),
        displayName: z.string(),
        usable: z.boolean().describe('False when the link was used or expired: go to refreshUrl'),
        refreshUrl: z.string(),
      }),
      handler: async ({ params }) => {
        const info = await sandbox().onboardingLinkInfo(params.token);
        return {
          sandbox: true as const,
          accountId: info.accountId,
          displayName: info.displayName,
          usable: info.state === 'new' && !info.expired,
          refreshUrl: info.refreshUrl,
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/payments/sandbox/onboarding/:token',
      summary: 'Sandbox: submit (or leave for later) the onboarding form',
      tag: 'Payments sandbox',
      access: { kind: 'public' },
      params: z.object({ token: z.string().min(1).max(100) }),
      body: z.object({ submit: z.boolean() }),
      response: z.object({ redirect: z.string() }),
      handler: async ({ params, body }) => sandbox().finishOnboarding(params.token, body.submit),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/payments/sandbox/checkout/:sessionId',
      summary: 'Sandbox: a payment page',
      tag: 'Payments sandbox',
      access: { kind: 'public' },
      params: z.object({ sessionId: z.string().min(1).max(100) }),
      response: z.object({
        sandbox: z.literal(true),
        sessionId: z.string(),
        amount: z.number().int(),
        currency: z.string(),
        description: z.string(),
        status: z.string(),
        cancelUrl: z.string(),
      }),
      handler: async ({ params }) => ({
        sandbox: true as const,
        ...(await sandbox().checkoutInfo(params.sessionId)),
      }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/payments/sandbox/checkout/:sessionId/pay',
      summary: 'Sandbox: pay with a test card (4000000000000002 declines)',
      tag: 'Payments sandbox',
      access: { kind: 'public' },
      params: z.object({ sessionId: z.string().min(1).max(100) }),
      body: z.object({ card: z.string().regex(/^[\d ]{12,23}$/, { message: 'must be a card number' }) }),
      response: z.object({ paid: z.boolean(), redirect: z.string().nullable() }),
      handler: async ({ params, body }) => sandbox().pay(params.sessionId, body.card),
    }),
  ];
}
