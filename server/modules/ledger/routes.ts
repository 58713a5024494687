import { z } from 'zod';
import { type Access, defineRoute, Timestamp } from '../../http/route.ts';
import { CURRENCY_EXPONENTS, MAX_AMOUNT } from './currency.ts';
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

export function ledgerRoutes({ ledger }: { ledger: LedgerService }) {
  const admin: Access = { kind: 'platform', roles: ['admin'] };
  return [
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
