import { type Access, defineRoute, invalid, notFound, z } from '../../server/plugin-api/index.ts';
import type { BillingContext } from './context.ts';
import { type Invoices, invoiceHtml } from './invoices.ts';
import { invoicePdf } from './pdf.ts';
import { type PlanVersion, PlanVersionInput, priceOf } from './plans.ts';
import type { Subscriptions } from './subscriptions.ts';

const IntervalSchema = z.enum(['month', 'year']);

const Plan = z
  .object({
    id: z.string(),
    versionId: z.string(),
    key: z.string(),
    name: z.string(),
    isFree: z.boolean(),
    version: z.number().int(),
    currency: z.string(),
    priceMonth: z.number().int(),
    priceYear: z.number().int(),
    trialDays: z.number().int(),
    features: z.object({
      contacts: z.number().int().nullable(),
      seats: z.number().int().nullable(),
      installations: z.number().int().nullable(),
    }),
    meters: z.array(
      z.object({
        meter: z.string(),
        included: z.number().int(),
        price: z.record(z.string(), z.unknown()).nullable(),
      }),
    ),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'BillingPlan' });

const toPlan = (v: PlanVersion): z.input<typeof Plan> => ({
  id: v.planId,
  versionId: v.id,
  key: v.planKey,
  name: v.planName,
  isFree: v.isFree,
  version: v.version,
  currency: v.currency,
  priceMonth: v.priceMonth,
  priceYear: v.priceYear,
  trialDays: v.trialDays,
  features: v.features,
  meters: v.meters as z.input<typeof Plan>['meters'],
  createdAt: v.createdAt,
});

const SubscriptionView = z
  .object({
    id: z.string(),
    plan: Plan,
    interval: IntervalSchema,
    status: z.enum(['trialing', 'active', 'past_due', 'degraded', 'canceled']),
    periodStart: z.iso.datetime(),
    periodEnd: z.iso.datetime(),
    trialEnd: z.iso.datetime().nullable(),
    cancelAtPeriodEnd: z.boolean(),
    graceUntil: z.iso.datetime().nullable(),
    creditBalance: z.number().int().describe('Minor units the next invoices will take off'),
  })
  .meta({ id: 'BillingSubscription' });

const Line = z.object({
  kind: z.enum(['subscription', 'overage', 'credits', 'proration', 'credit_applied', 'tax']),
  description: z.string(),
  meter: z.string().nullable(),
  quantity: z.number().int().nullable(),
  amount: z.number().int(),
});

const Invoice = z
  .object({
    id: z.string(),
    organizationId: z.string(),
    number: z.string().nullable(),
    kind: z.enum(['period', 'change']),
    status: z.enum(['draft', 'open', 'paid', 'void']),
    currency: z.string(),
    periodStart: z.iso.datetime(),
    periodEnd: z.iso.datetime(),
    usageStart: z.iso.datetime().nullable(),
    usageEnd: z.iso.datetime().nullable(),
    total: z.number().int().nullable(),
    paymentAttempts: z.number().int(),
    lastFailure: z.string().nullable(),
    createdAt: z.iso.datetime(),
    finalizedAt: z.iso.datetime().nullable(),
    paidAt: z.iso.datetime().nullable(),
    lines: z.array(Line),
  })
  .meta({ id: 'BillingInvoice' });

const Preview = z
  .object({
    plan: z.string(),
    interval: IntervalSchema,
    kind: z.enum(['trial', 'new', 'change', 'same']),
    periodStart: z.iso.datetime(),
    periodEnd: z.iso.datetime(),
    currency: z.string(),
    lines: z.array(Line.omit({ meter: true, quantity: true })),
    dueNow: z.number().int(),
    creditCarried: z.number().int(),
  })
  .meta({ id: 'BillingChangePreview' });

const Choice = z.object({
  plan: z.string().min(1).max(64).describe('Plan key or id'),
  interval: IntervalSchema.default('month'),
});

const PlanParams = z.object({ planId: z.string().max(100) });
const InvoiceParams = z.object({ invoiceId: z.string().max(100) });
const ADMIN: Access = { kind: 'org', minRole: 'admin', orgKinds: ['account', 'agency'] };
const OPERATOR: Access = { kind: 'platform', roles: ['admin'] };

export function planRoutes(b: BillingContext, subs: Subscriptions, invoices: Invoices) {
  const { ctx, plans } = b;

  /** Every meter a plan prices must exist: 400 naming the entry otherwise. */
  async function checkMeters(input: PlanVersionInput) {
    const known = await b.metering.meters(true);
    input.meters.forEach((m, i) => {
      if (!known.has(m.meter)) throw invalid(`body.meters.${i}.meter`, `no meter "${m.meter}"`);
    });
  }

  async function subscriptionView(orgId: string) {
    const sub = await b.subscriptionOf(orgId);
    if (!sub) return { subscription: null };
    const v = await plans.version(sub.planVersionId);
    return {
      subscription: {
        id: sub.id,
        plan: toPlan(v),
        interval: sub.interval,
        status: sub.status,
        periodStart: sub.periodStart.toISOString(),
        periodEnd: sub.periodEnd.toISOString(),
        trialEnd: sub.trialEnd?.toISOString() ?? null,
        cancelAtPeriodEnd: sub.cancelAtPeriodEnd,
        graceUntil: sub.graceUntil?.toISOString() ?? null,
        creditBalance: sub.creditBalance,
      },
    };
  }
  const SubscriptionEnvelope = z.object({ subscription: SubscriptionView.nullable() });

  ctx.routes.add(
    defineRoute({
      method: 'get',
      path: '/plans',
      summary: 'The plans one can subscribe to (latest version of each), cheapest first',
      tag: 'Billing',
      access: { kind: 'user' },
      response: z.object({ data: z.array(Plan) }),
      handler: async () => ({ data: (await plans.list()).map(toPlan) }),
    }),
    defineRoute({
      method: 'post',
      path: '/plans',
      summary: 'Create a plan (operator)',
      tag: 'Billing',
      access: OPERATOR,
      body: PlanVersionInput.extend({
        key: z
          .string()
          .regex(/^[a-z][a-z0-9-]{0,63}$/, 'lowercase letters, digits and -, starting with a letter'),
        name: z.string().trim().min(1).max(100),
        isFree: z.boolean().default(false),
      }),
      status: 201,
      response: Plan,
      handler: async ({ body, actor }) => {
        await checkMeters(body);
        if (body.isFree && (body.priceMonth || body.priceYear))
          throw invalid('body.isFree', 'the free plan costs nothing: priceMonth and priceYear must be 0');
        if (body.isFree && (await plans.free()))
          throw ctx.error('PLAZA_BILLING_DUPLICATE', 'there is a free plan already');
        const v = await plans.create(body);
        if (!v) throw ctx.error('PLAZA_BILLING_DUPLICATE', `a plan "${body.key}" exists already`);
        await ctx.audit.record(ctx.db, {
          organizationId: null,
          actor,
          action: 'billing.plan_created',
          targetType: 'billing_plan',
          targetId: v.planId,
          data: { key: v.planKey },
        });
        return toPlan(v);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/plans/:planId/versions',
      summary: 'A new version of a plan (operator); existing subscribers keep theirs until they move',
      tag: 'Billing',
      access: OPERATOR,
      params: PlanParams,
      body: PlanVersionInput,
      status: 201,
      response: Plan,
      handler: async ({ params, body, actor }) => {
        await checkMeters(body);
        const current = await plans.current(params.planId);
        if (!current) throw notFound('plan');
        if (current.isFree && (body.priceMonth || body.priceYear))
          throw invalid('body.priceMonth', 'the free plan costs nothing: priceMonth and priceYear must be 0');
        const v = await plans.newVersion(params.planId, body);
        await ctx.audit.record(ctx.db, {
          organizationId: null,
          actor,
          action: 'billing.plan_versioned',
          targetType: 'billing_plan',
          targetId: v.planId,
          data: { version: v.version },
        });
        return toPlan(v);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/plans/:planId/versions',
      summary: "A plan's versions, newest first (operator)",
      tag: 'Billing',
      access: OPERATOR,
      params: PlanParams,
      response: z.object({ data: z.array(Plan) }),
      handler: async ({ params }) => ({ data: (await plans.versions(params.planId)).map(toPlan) }),
    }),
    defineRoute({
      method: 'get',
      path: '/organizations/:orgId/subscription',
      summary: "The organization's subscription (null: none, the free plan's limits apply)",
      tag: 'Billing',
      access: { kind: 'org' },
      response: SubscriptionEnvelope,
      handler: ({ org }) => subscriptionView(org.org.id),
    }),
    defineRoute({
      method: 'post',
      path: '/organizations/:orgId/subscription/preview',
      summary: 'What choosing a plan would do now: the proration lines and what is due',
      tag: 'Billing',
      access: ADMIN,
      body: Choice,
      response: Preview,
      handler: ({ org, body }) => subs.preview(org.org.id, body),
    }),
    defineRoute({
      method: 'put',
      path: '/organizations/:orgId/subscription',
      summary: 'Subscribe, or change plan now with proration (an upgrade is charged at once)',
      tag: 'Billing',
      access: ADMIN,
      body: Choice,
      response: z.object({
        subscription: SubscriptionView,
        invoiceId: z.string().nullable(),
        payment: z.enum(['paid', 'failed', 'pending']).nullable(),
      }),
      handler: async ({ org, body, actor }) => {
        const done = await subs.change(org.org.id, body, actor);
        const view = await subscriptionView(org.org.id);
        return { subscription: view.subscription!, invoiceId: done.invoiceId, payment: done.payment };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/organizations/:orgId/subscription/cancel',
      summary: 'Cancel at the end of the period (the free plan follows, data is kept)',
      tag: 'Billing',
      access: ADMIN,
      response: SubscriptionEnvelope,
      handler: async ({ org, actor }) => {
        await subs.setCancel(org.org.id, true, actor);
        return subscriptionView(org.org.id);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/organizations/:orgId/subscription/resume',
      summary: 'Keep the subscription after all (undo a cancellation before the period ends)',
      tag: 'Billing',
      access: ADMIN,
      response: SubscriptionEnvelope,
      handler: async ({ org, actor }) => {
        await subs.setCancel(org.org.id, false, actor);
        return subscriptionView(org.org.id);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/organizations/:orgId/invoices',
      summary: "The organization's invoices, newest first",
      tag: 'Billing',
      access: { kind: 'org' },
      response: z.object({ data: z.array(Invoice) }),
      handler: async ({ org }) => ({ data: await invoices.list(org.org.id) }),
    }),
    defineRoute({
      method: 'get',
      path: '/organizations/:orgId/invoices/:invoiceId',
      summary: 'One invoice with its lines',
      tag: 'Billing',
      access: { kind: 'org' },
      params: InvoiceParams,
      response: Invoice,
      handler: ({ org, params }) => invoices.view(ctx.db, org.org.id, params.invoiceId),
    }),
    defineRoute({
      method: 'get',
      path: '/organizations/:orgId/invoices/:invoiceId/html',
      summary: 'One invoice as an HTML document (print it to PDF)',
      tag: 'Billing',
      access: { kind: 'org' },
      params: InvoiceParams,
      handler: async ({ org, params, ctx: koa }) => {
        const inv = await invoices.view(ctx.db, org.org.id, params.invoiceId);
        koa.type = 'text/html; charset=utf-8';
        koa.set('content-disposition', `inline; filename="invoice-${inv.number ?? inv.id}.html"`);
        koa.body = invoiceHtml(inv, org.org, ctx.config.issuer);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/organizations/:orgId/invoices/:invoiceId/pdf',
      summary: 'One invoice as a PDF document',
      tag: 'Billing',
      access: { kind: 'org' },
      params: InvoiceParams,
      handler: async ({ org, params, ctx: koa }) => {
        const inv = await invoices.view(ctx.db, org.org.id, params.invoiceId);
        koa.type = 'application/pdf';
        koa.set('content-disposition', `attachment; filename="invoice-${inv.number ?? inv.id}.pdf"`);
        koa.body = invoicePdf(inv, org.org, ctx.config.issuer);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/organizations/:orgId/invoices/:invoiceId/pay',
      summary: 'Pay an open invoice on the payment page (and save the card for the next ones)',
      tag: 'Billing',
      access: ADMIN,
      params: InvoiceParams,
      body: z.object({ returnUrl: z.url().optional() }),
      response: z.object({ url: z.string() }),
      handler: async ({ org, params, body }) => {
        const inv = await invoices.view(ctx.db, org.org.id, params.invoiceId);
        if (inv.status !== 'open')
          throw ctx.error('PLAZA_BILLING_PLAN_UNAVAILABLE', `the invoice is ${inv.status}, not open`);
        const back = body.returnUrl ?? `${ctx.config.appUrl}/orgs/${org.org.id}/x/billing/plan`;
        const session = await ctx.payments.checkout({
          organizationId: org.org.id,
          amount: BigInt(inv.total!),
          currency: inv.currency,
          description: `Invoice ${inv.number}`,
          reference: `invoice:${inv.id}`,
          successUrl: back,
          cancelUrl: back,
          settles: { kind: 'customer_receivable', party: org.org.id },
        });
        return { url: session.url };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/subscribers',
      summary: 'Subscribers with plan and state, and MRR per currency (operator)',
      tag: 'Billing',
      access: OPERATOR,
      query: z.object({
        status: z.enum(['trialing', 'active', 'past_due', 'degraded', 'canceled']).optional(),
      }),
      response: z.object({
        mrr: z.array(z.object({ currency: z.string(), amount: z.number().int() })),
        counts: z.record(z.string(), z.number().int()),
        data: z.array(
          z.object({
            organizationId: z.string(),
            plan: z.string(),
            version: z.number().int(),
            interval: IntervalSchema,
            status: z.string(),
            periodEnd: z.iso.datetime(),
            trialEnd: z.iso.datetime().nullable(),
            graceUntil: z.iso.datetime().nullable(),
            monthly: z.number().int(),
            currency: z.string(),
          }),
        ),
      }),
      handler: async ({ query }) => {
        const rows = await ctx.db.query(
          `SELECT s.*, v.id AS vid FROM billing_subscriptions s JOIN billing_plan_versions v ON v.id = s.plan_version_id
            ORDER BY s.updated_at DESC LIMIT 500`,
        );
        const versions = new Map<string, PlanVersion>();
        for (const r of rows) if (!versions.has(r.vid)) versions.set(r.vid, await plans.version(r.vid));
        const all = rows.map((r) => {
          const v = versions.get(r.vid)!;
          // MRR counts what paying subscribers are billed per month (a yearly price over 12, rounded down).
          const monthly =
            r.billing_interval === 'year' ? Math.floor(priceOf(v, 'year') / 12) : priceOf(v, 'month');
          return {
            organizationId: r.organization_id as string,
            plan: v.planKey,
            version: v.version,
            interval: r.billing_interval,
            status: r.status as string,
            periodEnd: new Date(r.period_end).toISOString(),
            trialEnd: r.trial_end ? new Date(r.trial_end).toISOString() : null,
            graceUntil: r.grace_until ? new Date(r.grace_until).toISOString() : null,
            monthly,
            currency: v.currency,
          };
        });
        const mrr = new Map<string, number>();
        const counts: Record<string, number> = {};
        for (const s of all) {
          counts[s.status] = (counts[s.status] ?? 0) + 1;
          if (s.status === 'active' || s.status === 'past_due')
            mrr.set(s.currency, (mrr.get(s.currency) ?? 0) + s.monthly);
        }
        return {
          mrr: [...mrr].map(([currency, amount]) => ({ currency, amount })),
          counts,
          data: query.status ? all.filter((s) => s.status === query.status) : all,
        };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/organizations/:orgId/subscription/agency-price',
      summary:
        "Agency rebilling: the fee an agency bills its sub-account per period, from the next invoice on (an owner or admin of the agency; null: the plan's price)",
      tag: 'Billing',
      access: ADMIN,
      body: z.object({
        price: z
          .number()
          .int()
          .min(0)
          .max(1e12)
          .nullable()
          .describe("Minor units of the plan's currency per period; at least the platform's price"),
      }),
      response: z.object({
        price: z.number().int().nullable(),
        platformPrice: z.number().int().describe('What the plan costs: what the agency owes the platform'),
        currency: z.string(),
        appliesFrom: z.iso.datetime().describe('The start of the first period billed at this price'),
      }),
      handler: async ({ org, body, actor }) => {
        const r = await subs.setResalePrice(org.org.id, body.price, actor);
        return {
          price: r.subscription.resale?.price ?? null,
          platformPrice: r.platformPrice,
          currency: r.currency,
          appliesFrom: r.subscription.periodEnd.toISOString(),
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/accounts/:accountId/trial',
      summary: "Extend an organization's trial by 1 to 90 days (operator)",
      tag: 'Billing',
      access: OPERATOR,
      params: z.object({ accountId: z.string() }),
      body: z.object({ days: z.number().int().min(1).max(90) }),
      response: SubscriptionEnvelope,
      handler: async ({ params, body, actor }) => {
        await subs.extendTrial(params.accountId, body.days, actor);
        return subscriptionView(params.accountId);
      },
    }),
  );
}
