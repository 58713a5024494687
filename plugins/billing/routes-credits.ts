import { defineRoute, newId, notFound, z } from '../../server/plugin-api/index.ts';
import type { BillingContext } from './context.ts';
import { CreditError, type Debit } from './credits.ts';

const Credits = z.number().int().min(1).max(1e12);
const Key = z.string().trim().min(1).max(200);

const DebitView = z
  .object({
    id: z.string(),
    status: z.enum(['reserved', 'committed', 'voided', 'expired']),
    amount: z.number().int(),
    committed: z.number().int().nullable(),
    idempotencyKey: z.string(),
    expiresAt: z.iso.datetime().nullable(),
    balance: z.number().int().describe('Spendable credits after this call'),
    replayed: z.boolean().describe('True when this answers an earlier call with the same idempotencyKey'),
  })
  .meta({ id: 'BillingCreditDebit' });

export const CreditSummary = z
  .object({
    balance: z.number().int(),
    reserved: z.number().int(),
    grants: z.array(
      z.object({
        id: z.string(),
        source: z.enum(['grant', 'top_up']),
        amount: z.number().int(),
        remaining: z.number().int(),
        expiresAt: z.iso.datetime().nullable(),
        expired: z.boolean(),
        description: z.string(),
        createdAt: z.iso.datetime(),
      }),
    ),
  })
  .meta({ id: 'BillingCredits' });

/**
 * Credits: apps with `billing:credits` spend an account's credits (deduct,
 * or reserve then commit/void); the account's members read the balance and
 * its admins buy top-ups; the operator grants credits.
 */
export function creditRoutes(b: BillingContext) {
  const { ctx, credits } = b;

  /** A refusal as the client sees it: 409 with the balance, 404, or 409 naming the state. */
  const refuse = (err: unknown): never => {
    if (!(err instanceof CreditError)) throw err;
    const r = err.refusal;
    switch (r.kind) {
      case 'insufficient':
        throw ctx.error(
          'PLAZA_BILLING_INSUFFICIENT_CREDITS',
          `${r.requested} credits requested, ${r.balance} available`,
          { extra: { balance: r.balance, requested: r.requested } },
        );
      case 'key_reused':
        throw ctx.error(
          'PLAZA_BILLING_IDEMPOTENCY_KEY_REUSED',
          'this idempotencyKey was used for another amount or kind of debit',
          { extra: { debitId: r.debitId } },
        );
      case 'not_found':
        throw notFound('reservation');
      case 'blocked':
        throw ctx.error(
          'PLAZA_BILLING_SPENDING_BLOCKED',
          `spending is paused until ${r.until} after ${r.refusals} refused deductions in a row`,
          { extra: { until: r.until } },
        );
      case 'closed':
        throw ctx.error('PLAZA_BILLING_RESERVATION_CLOSED', `the reservation is ${r.status}`, {
          extra: { status: r.status },
        });
    }
  };
  const run = (p: Promise<Debit>) => p.catch(refuse);
  const ReservationParams = z.object({ reservationId: z.string().max(100) });

  ctx.routes.add(
    defineRoute({
      method: 'post',
      path: '/credits/deduct',
      summary:
        'Deduct credits at once: all of the amount, or 409 with the balance; idempotent per idempotencyKey',
      tag: 'Billing',
      access: { kind: 'app', scope: 'billing:credits' },
      body: z.object({ amount: Credits, idempotencyKey: Key, description: z.string().max(200).optional() }),
      response: DebitView,
      handler: async ({ app, body }) => {
        await b.callLimit.hit(app.app.installationId);
        return run(credits.debit(app.org.id, { ...body, appId: app.app.appId }));
      },
    }),
    defineRoute({
      method: 'post',
      path: '/credits/reservations',
      summary: 'Reserve credits; commit or void them before ttlSeconds, or they are given back by themselves',
      tag: 'Billing',
      access: { kind: 'app', scope: 'billing:credits' },
      body: z.object({
        amount: Credits,
        idempotencyKey: Key,
        description: z.string().max(200).optional(),
        ttlSeconds: z.number().int().min(1).max(86_400).optional(),
      }),
      status: 201,
      response: DebitView,
      handler: async ({ app, body }) => {
        await b.callLimit.hit(app.app.installationId);
        return run(
          credits.debit(
            app.org.id,
            { ...body, appId: app.app.appId },
            (body.ttlSeconds ?? ctx.config.reservationTtlSeconds) * 1000,
          ),
        );
      },
    }),
    defineRoute({
      method: 'post',
      path: '/credits/reservations/:reservationId/commit',
      summary: 'Spend a reservation, all of it or `amount` (the rest is given back)',
      tag: 'Billing',
      access: { kind: 'app', scope: 'billing:credits' },
      params: ReservationParams,
      body: z.object({ amount: z.number().int().min(0).max(1e12).optional() }),
      response: DebitView,
      handler: ({ app, params, body }) =>
        run(credits.settle(app.org.id, params.reservationId, 'commit', body.amount)),
    }),
    defineRoute({
      method: 'post',
      path: '/credits/reservations/:reservationId/void',
      summary: 'Give a reservation back (the call it paid for failed)',
      tag: 'Billing',
      access: { kind: 'app', scope: 'billing:credits' },
      params: ReservationParams,
      response: DebitView,
      handler: ({ app, params }) => run(credits.settle(app.org.id, params.reservationId, 'void')),
    }),
    defineRoute({
      method: 'get',
      path: '/credits',
      summary: "The installing account's credits",
      tag: 'Billing',
      access: { kind: 'app', scope: 'billing:credits' },
      response: CreditSummary,
      handler: ({ app }) => credits.summary(app.org.id),
    }),
    defineRoute({
      method: 'get',
      path: '/organizations/:orgId/credits',
      summary: "The organization's credit balance and grants",
      tag: 'Billing',
      access: { kind: 'org' },
      response: CreditSummary,
      handler: ({ org }) => credits.summary(org.org.id),
    }),
    defineRoute({
      method: 'post',
      path: '/organizations/:orgId/credits/top-ups',
      summary: 'Buy credits: a payment page; the credits are added when the payment succeeds',
      tag: 'Billing',
      idempotent: true,
      access: { kind: 'org', minRole: 'admin', orgKinds: ['account', 'agency'] },
      body: z.object({
        credits: Credits,
        returnUrl: z.url().optional().describe('Where the payment page sends the person back'),
      }),
      status: 201,
      response: z.object({
        topUpId: z.string(),
        amount: z.number().int(),
        currency: z.string(),
        url: z.string(),
      }),
      handler: async ({ org, body, actor }) => {
        const id = newId('ctu');
        const amount = body.credits * ctx.config.creditUnitAmount;
        const currency = ctx.config.creditCurrency;
        await ctx.db.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO billing_top_ups (id, account_id, credits, amount, currency, status) VALUES ($1, $2, $3, $4, $5, 'pending')`,
            [id, org.org.id, body.credits, amount, currency],
          );
          await ctx.audit.record(tx, {
            organizationId: org.org.id,
            actor,
            action: 'billing.top_up_started',
            targetType: 'billing_top_up',
            targetId: id,
            data: { credits: body.credits, amount },
          });
        });
        const back = body.returnUrl ?? `${ctx.config.appUrl}/orgs/${org.org.id}/x/billing/plan`;
        const session = await ctx.payments.checkout({
          organizationId: org.org.id,
          amount: BigInt(amount),
          currency,
          description: `${body.credits} credits`,
          reference: `topup:${id}`,
          successUrl: back,
          cancelUrl: back,
          // Deferred revenue until the credits are spent.
          settles: { kind: 'customer_credit_liability', party: org.org.id },
        });
        return { topUpId: id, amount, currency, url: session.url };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/accounts/:accountId/credits/grants',
      summary: 'Grant credits to an account (operator): promotions, goodwill; once per reference',
      tag: 'Billing',
      access: { kind: 'platform', roles: ['admin'] },
      params: z.object({ accountId: z.string() }),
      body: z.object({
        amount: Credits,
        reference: Key.describe('Idempotency: one grant per reference and account'),
        description: z.string().trim().min(1).max(200),
        expiresAt: z.iso.datetime({ offset: true }).optional(),
      }),
      status: 201,
      response: z.object({ id: z.string(), created: z.boolean(), balance: z.number().int() }),
      handler: async ({ params, body, actor }) => {
        await ctx.orgs.get(params.accountId); // 404 for an organization that does not exist
        const expiresAt = body.expiresAt ? new Date(body.expiresAt) : null;
        const granted = await credits.grant(params.accountId, {
          amount: body.amount,
          source: 'grant',
          reference: `grant:${body.reference}`,
          description: body.description,
          expiresAt,
        });
        if (granted.created)
          await ctx.audit.record(ctx.db, {
            organizationId: params.accountId,
            actor,
            action: 'billing.credits_granted',
            targetType: 'billing_credit_grant',
            targetId: granted.id,
            data: { amount: body.amount, expiresAt: body.expiresAt ?? null },
          });
        return granted;
      },
    }),
  );
}
