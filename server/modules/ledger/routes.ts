import { z } from 'zod';
import { PlazaError } from '../../errors.ts';
import { type Access, defineRoute, Timestamp } from '../../http/route.ts';
import { CURRENCY_EXPONENTS, MAX_AMOUNT } from './currency.ts';
import type { Payout } from './payouts.ts';
import { describeRule, type ShareRule } from './revenue.ts';
import type { LedgerService } from './service.ts';

/** Minor units in the API: JSON integers, strictly positive unless said otherwise. */
export const MinorUnits = z
  .number({ message: 'must be an integer number of minor units' })
  .int({ message: 'must be an integer number of minor units' })
  .positive({ message: 'must be greater than 0' })
  .max(Number(MAX_AMOUNT), { message: `must be at most ${MAX_AMOUNT}` });
export const SignedMinorUnits = z.number().int().describe('Minor units of the currency; negative when owed');
export const Currency = z
  .string()
  .refine((c) => Object.hasOwn(CURRENCY_EXPONENTS, c), {
    message: 'must be a supported ISO 4217 code in upper case',
  })
  .describe('ISO 4217 code in upper case (USD, EUR, JPY)');

const num = (v: bigint) => Number(v);

const TierSchema = z.object({
  upTo: MinorUnits.nullable().describe(
    'Lifetime revenue (minor units) up to which this rate applies; null for the last tier',
  ),
  platformBps: z.number().int().min(0).max(10000).describe('Platform share in basis points (2500 = 25%)'),
});

const RuleSchema = z
  .object({
    id: z.string(),
    scope: z.enum(['default', 'category', 'developer']),
    target: z.string().describe('Category slug or developer organization id; empty for the default'),
    effectiveFrom: Timestamp,
    tiers: z.array(TierSchema),
    agencyBps: z.number().int(),
    summary: z.string(),
    inForce: z.boolean().describe('Whether it has started (rules in force are never edited or withdrawn)'),
    note: z.string().nullable(),
    createdAt: Timestamp,
  })
  .meta({ id: 'RevenueShareRule' });

export function ruleDto(r: ShareRule, now: Date) {
  return {
    id: r.id,
    scope: r.scope,
    target: r.target,
    effectiveFrom: r.effectiveFrom.toISOString(),
    tiers: r.tiers.map((t) => ({ upTo: t.upTo === null ? null : num(t.upTo), platformBps: t.platformBps })),
    agencyBps: r.agencyBps,
    summary: describeRule(r),
    inForce: r.effectiveFrom <= now,
    note: r.note,
    createdAt: r.createdAt.toISOString(),
  };
}

const PayoutSchema = z
  .object({
    id: z.string(),
    currency: z.string(),
    gross: z.number().int().describe('What the invoice lines came to'),
    netted: z
      .number()
      .int()
      .describe('Taken to settle what the partner owed (refunds after an earlier payout)'),
    amount: z.number().int().describe('Transferred'),
    state: z.enum(['processing', 'paid', 'failed']),
    failure: z.string().nullable(),
    createdAt: Timestamp,
    paidAt: Timestamp.nullable(),
  })
  .meta({ id: 'Payout' });

const payoutDto = (p: Payout) => ({
  id: p.id,
  currency: p.currency,
  gross: num(p.gross),
  netted: num(p.netted),
  amount: num(p.amount),
  state: p.state,
  failure: p.failure,
  createdAt: p.createdAt.toISOString(),
  paidAt: p.paidAt?.toISOString() ?? null,
});

const BalanceSchema = z.object({
  currency: z.string(),
  pending: z.number().int().describe('Earned; payout terms still running'),
  available: z.number().int().describe('Paid by the next payout run'),
  inTransit: z.number().int(),
  paid: z.number().int().describe('Transferred, all time'),
  owed: z.number().int().describe('Owed by the partner (refunds after payout), netted from the next payouts'),
});

const DateRange = z.object({
  from: Timestamp.optional().describe('Default: 1 January of this year (UTC)'),
  to: Timestamp.optional().describe('Default: now'),
});
const range = (q: { from?: string; to?: string }, now: Date) => {
  const from = q.from ? new Date(q.from) : new Date(Date.UTC(now.getUTCFullYear(), 0, 1));
  const to = q.to ? new Date(q.to) : now;
  if (from >= to)
    throw new PlazaError('PLAZA_VALIDATION', 'from must be before to', {
      fields: [{ field: 'query.from', reason: 'must be before to' }],
    });
  return { from, to };
};

const PARTNER: Access = { kind: 'org', orgKinds: ['developer', 'agency'], minRole: 'admin' };

export function ledgerRoutes({ ledger }: { ledger: LedgerService }) {
  const admin: Access = { kind: 'platform', roles: ['admin'] };
  return [
    // Partners ---------------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/earnings',
      summary:
        "The organization's balances (pending, available, in transit, paid, owed), holds and payout terms",
      tag: 'Earnings',
      access: PARTNER,
      params: z.object({ orgId: z.string().max(64) }),
      response: z.object({
        balances: z.array(BalanceSchema),
        holds: z.array(
          z.object({ currency: z.string(), amount: z.number().int(), reason: z.string(), heldAt: Timestamp }),
        ),
        netDays: z.number().int(),
        minimumPayout: z.number().int(),
      }),
      handler: async ({ org }) => {
        const [balances, holds, terms] = await Promise.all([
          ledger.balances(org.org.id),
          ledger.holdsOf(org.org.id),
          ledger.payoutTerms(org.org.id),
        ]);
        return {
          balances: balances.map((b) => ({
            currency: b.currency,
            pending: num(b.pending),
            available: num(b.available),
            inTransit: num(b.inTransit),
            paid: num(b.paid),
            owed: num(b.owed),
          })),
          holds: holds.map((h) => ({ ...h, amount: num(h.amount), heldAt: h.heldAt.toISOString() })),
          netDays: terms.netDays,
          minimumPayout: num(ledger.minimumPayout),
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/earnings/payouts',
      summary: "The organization's payouts, newest first",
      tag: 'Earnings',
      access: PARTNER,
      params: z.object({ orgId: z.string().max(64) }),
      response: z.object({ data: z.array(PayoutSchema) }),
      handler: async ({ org }) => ({ data: (await ledger.payoutsOf(org.org.id)).map(payoutDto) }),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/earnings/payouts/:payoutId',
      summary: 'One payout with the invoice lines it paid',
      tag: 'Earnings',
      access: PARTNER,
      params: z.object({ orgId: z.string().max(64), payoutId: z.string().max(64) }),
      response: PayoutSchema.extend({
        lines: z.array(
          z.object({
            invoiceId: z.string(),
            appId: z.string(),
            role: z.string(),
            chargedAt: Timestamp,
            amount: z.number().int().describe('Your share of the charge'),
            refunded: z.number().int(),
            netted: z.number().int(),
            paidAmount: z.number().int().nullable(),
            transferId: z.string().nullable(),
          }),
        ),
      }),
      handler: async ({ org, params }) => {
        const p = await ledger.payout(params.payoutId);
        // Another partner's payout does not exist for this one.
        if (!p || p.party !== org.org.id) throw new PlazaError('PLAZA_NOT_FOUND', 'payout not found');
        return {
          ...payoutDto(p),
          lines: p.lines.map((l) => ({
            ...l,
            chargedAt: l.chargedAt.toISOString(),
            amount: num(l.amount),
            refunded: num(l.refunded),
            netted: num(l.netted),
            paidAmount: l.paidAmount === null ? null : num(l.paidAmount),
          })),
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/earnings/statement.csv',
      summary:
        'Statement of invoice lines (CSV): each charge, its split and rule, refunds and the payout that paid it',
      tag: 'Earnings',
      access: PARTNER,
      params: z.object({ orgId: z.string().max(64) }),
      query: DateRange,
      handler: async ({ org, query, ctx }) => {
        const r = range(query, ledger.now());
        ctx.set('Content-Type', 'text/csv; charset=utf-8');
        ctx.set('Content-Disposition', `attachment; filename="statement-${org.org.id}.csv"`);
        ctx.body = await ledger.statementCsv(org.org.id, r);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/organizations/:orgId/earnings/tax/:year',
      summary: "The organization's tax figures for a calendar year",
      tag: 'Earnings',
      access: PARTNER,
      params: z.object({ orgId: z.string().max(64), year: z.coerce.number().int().min(2000).max(2100) }),
      response: z.object({ data: z.array(z.record(z.string(), z.unknown())) }),
      handler: async ({ org, params }) => ({
        data: (await ledger.taxFigures(params.year, org.org.id)).map(taxDto),
      }),
    }),
    // Operators: finance ------------------------------------------------------
    defineRoute({
      method: 'get',
      path: '/v1/admin/finance/overview',
      summary: 'GMV, platform revenue, fees, refunds, payouts due and paid, disputes, reconciliation status',
      tag: 'Finance',
      access: admin,
      query: DateRange,
      response: z.object({
        from: Timestamp,
        to: Timestamp,
        currencies: z.array(z.record(z.string(), z.union([z.string(), z.number()]))),
        lastReconciliation: z
          .object({ id: z.string(), status: z.string(), startedAt: Timestamp, differences: z.number().int() })
          .nullable(),
        lastPayoutRun: z.record(z.string(), z.unknown()).nullable(),
      }),
      handler: async ({ query }) => {
        const r = range(query, ledger.now());
        const [rows, [rec], [run]] = await Promise.all([
          ledger.overview(r),
          ledger.reconciliations(1),
          ledger.runs(1),
        ]);
        return {
          from: r.from.toISOString(),
          to: r.to.toISOString(),
          currencies: rows.map((o) =>
            Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'bigint' ? num(v) : v])),
          ),
          lastReconciliation: rec
            ? {
                id: rec.id,
                status: rec.status,
                startedAt: rec.startedAt.toISOString(),
                differences: rec.differences.length,
              }
            : null,
          lastPayoutRun: run ? runDto(run) : null,
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/admin/finance/payout-runs',
      summary: 'Recent payout runs',
      tag: 'Finance',
      access: admin,
      response: z.object({ data: z.array(z.record(z.string(), z.unknown())) }),
      handler: async () => ({ data: (await ledger.runs(20)).map(runDto) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/finance/payout-runs',
      summary: 'Run a payout now (the operator button); returns when the run is over',
      tag: 'Finance',
      access: admin,
      response: z.record(z.string(), z.unknown()),
      handler: ({ actor }) => ledger.runPayouts(actor.userId ?? 'operator').then((r) => ({ ...r })),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/admin/finance/reconciliations',
      summary: 'Recent reconciliations of the ledger against the provider, with every difference',
      tag: 'Finance',
      access: admin,
      response: z.object({ data: z.array(z.record(z.string(), z.unknown())) }),
      handler: async () => ({ data: (await ledger.reconciliations(20)).map(recDto) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/finance/reconciliations',
      summary: 'Reconcile a period now (default: the last 24 hours)',
      tag: 'Finance',
      access: admin,
      body: DateRange,
      response: z.record(z.string(), z.unknown()),
      handler: async ({ body }) => {
        const now = ledger.now();
        const r = range(
          { from: body.from ?? new Date(now.getTime() - 86_400_000).toISOString(), to: body.to },
          now,
        );
        return recDto(await ledger.reconcile(r));
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/admin/finance/tax/:year',
      summary: 'Tax figures per payee for a calendar year (JSON, or CSV with format=csv)',
      tag: 'Finance',
      access: admin,
      params: z.object({ year: z.coerce.number().int().min(2000).max(2100) }),
      query: z.object({ format: z.enum(['json', 'csv']).default('json') }),
      handler: async ({ params, query, ctx }) => {
        const figures = await ledger.taxFigures(params.year);
        if (query.format === 'csv') {
          ctx.set('Content-Type', 'text/csv; charset=utf-8');
          ctx.set('Content-Disposition', `attachment; filename="tax-${params.year}.csv"`);
          ctx.body = ledger.taxCsv(figures);
          return;
        }
        ctx.body = { data: figures.map(taxDto) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/v1/admin/revenue-share/rules',
      summary: 'The revenue-share schedule, newest first',
      tag: 'Finance',
      access: admin,
      response: z.object({ data: z.array(RuleSchema) }),
      handler: async () => ({ data: (await ledger.listRules()).map((r) => ruleDto(r, ledger.now())) }),
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/revenue-share/rules',
      summary: 'Add a revenue-share rule (effective now or later, never retroactive)',
      tag: 'Finance',
      access: admin,
      status: 201,
      body: z.object({
        scope: z.enum(['default', 'category', 'developer']),
        target: z.string().min(1).max(64).optional().describe('Category slug or developer organization id'),
        effectiveFrom: Timestamp.optional().describe('Default: now'),
        tiers: z.array(TierSchema).min(1).max(10),
        agencyBps: z.number().int().min(0).max(10000).optional(),
        note: z.string().max(500).optional(),
      }),
      response: RuleSchema,
      handler: async ({ body, actor }) => {
        const rule = await ledger.addRule(
          {
            ...body,
            effectiveFrom: body.effectiveFrom ? new Date(body.effectiveFrom) : undefined,
            tiers: body.tiers.map((t) => ({
              upTo: t.upTo === null ? null : BigInt(t.upTo),
              platformBps: t.platformBps,
            })),
          },
          actor.userId,
        );
        return ruleDto(rule, ledger.now());
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/v1/admin/revenue-share/rules/:ruleId',
      summary: 'Withdraw a rule that is not in force yet',
      tag: 'Finance',
      access: admin,
      params: z.object({ ruleId: z.string().max(64) }),
      handler: async ({ params }) => {
        await ledger.deleteRule(params.ruleId);
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/revenue-share/preview',
      summary: 'How a charge would be split today (nothing is recorded)',
      tag: 'Finance',
      access: admin,
      body: z.object({
        amount: MinorUnits,
        currency: Currency,
        processingFee: z.number().int().min(0).max(Number(MAX_AMOUNT)).default(0),
        developerOrgId: z.string().min(1).max(64),
        appId: z.string().min(1).max(64).default('app_preview'),
        category: z.string().max(64).optional(),
        agencyOrgId: z.string().max(64).optional(),
      }),
      response: z.object({
        amount: z.number().int(),
        currency: z.string(),
        processingFee: z.number().int(),
        parts: z.array(
          z.object({ role: z.string(), party: z.string().optional(), amount: z.number().int() }),
        ),
        rule: z.object({ ruleId: z.string(), scope: z.string(), summary: z.string() }),
      }),
      handler: async ({ body }) => {
        const s = await ledger.splitCharge({
          ...body,
          amount: BigInt(body.amount),
          processingFee: BigInt(body.processingFee),
        });
        return {
          amount: num(s.amount),
          currency: s.currency,
          processingFee: num(s.processingFee),
          parts: s.parts.map((p) => ({ ...p, amount: num(p.amount) })),
          rule: { ruleId: s.rule.ruleId, scope: s.rule.scope, summary: s.rule.summary },
        };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/v1/admin/partners/:orgId/payout-terms',
      summary: "Set a partner's payout terms (net-15 or net-30 after the charge settles)",
      tag: 'Finance',
      access: admin,
      params: z.object({ orgId: z.string().max(64) }),
      body: z.object({ netDays: z.union([z.literal(15), z.literal(30)]) }),
      response: z.object({ party: z.string(), netDays: z.number().int() }),
      handler: ({ params, body }) => ledger.setPayoutTerms(params.orgId, body.netDays),
    }),
    defineRoute({
      method: 'get',
      path: '/v1/admin/ledger/check',
      summary: 'Recompute every balance from the entries and list differences (none when healthy)',
      tag: 'Finance',
      access: admin,
      response: z.object({
        accounts: z.number().int(),
        mismatches: z.array(
          z.object({
            account: z.object({ kind: z.string(), party: z.string().optional() }),
            currency: z.string(),
            cached: SignedMinorUnits,
            replayed: SignedMinorUnits,
          }),
        ),
        unbalanced: z.array(z.string()),
      }),
      handler: async () => {
        const v = await ledger.verify();
        return {
          ...v,
          mismatches: v.mismatches.map((m) => ({ ...m, cached: num(m.cached), replayed: num(m.replayed) })),
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/v1/admin/ledger/close',
      summary:
        'Close the books up to an instant (usually the first of the next month): nothing can be posted before it',
      tag: 'Finance',
      access: admin,
      body: z.object({ through: Timestamp }),
      response: z.object({ closedThrough: Timestamp }),
      handler: async ({ body, actor }) => {
        const r = await ledger.closePeriod(new Date(body.through), actor.userId);
        return { closedThrough: r.closedThrough.toISOString() };
      },
    }),
  ];
}

const taxDto = (f: import('./statements.ts').TaxFigures) => ({
  ...f,
  gross: num(f.gross),
  fees: num(f.fees),
  refunds: num(f.refunds),
  payeeEarnings: num(f.payeeEarnings),
});

const runDto = (r: any) => ({
  id: r.id as string,
  triggeredBy: r.triggered_by as string,
  startedAt: (r.started_at as Date).toISOString(),
  finishedAt: r.finished_at ? (r.finished_at as Date).toISOString() : null,
  partnersPaid: r.partners_paid as number,
  partnersHeld: r.partners_held as number,
  partnersBelowMinimum: r.partners_below_minimum as number,
  error: r.error as string | null,
});

const recDto = (r: import('./reconcile.ts').Reconciliation) => ({
  id: r.id,
  provider: r.provider,
  from: r.from.toISOString(),
  to: r.to.toISOString(),
  startedAt: r.startedAt.toISOString(),
  matched: r.matched,
  status: r.status,
  differences: r.differences.map((d) => ({ ...d, ledger: num(d.ledger), provider: num(d.provider) })),
});
