import type { Db, Queryable, Tx } from '../../db/index.ts';
import { conflict, type FieldError, notFound, PlazaError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { LedgerCore } from './core.ts';
import { amountProblem, formatMinor, isCurrency, MAX_AMOUNT } from './currency.ts';
import type {
  AppliedRule,
  LedgerEntryInput,
  PartnerRole,
  PostInput,
  PostResult,
  RecordChargeInput,
  RecordChargeResult,
  RecordDisputeInput,
  RecordRefundInput,
  RecordRefundResult,
  RefundSplit,
  Split,
  SplitChargeInput,
  SplitPart,
} from './port.ts';
import { createResaleReports } from './resale.ts';
import { allocate } from './split.ts';

export interface Tier {
  /** Lifetime revenue (minor units of the charge's currency) up to which this rate applies; null: no end. */
  upTo: bigint | null;
  /** Platform share in basis points (2500 = 25%). */
  platformBps: number;
}

export interface ShareRule {
  id: string;
  scope: 'default' | 'category' | 'developer';
  target: string;
  effectiveFrom: Date;
  tiers: Tier[];
  agencyBps: number;
  note: string | null;
  createdBy: string | null;
  createdAt: Date;
}

export interface NewShareRule {
  scope: ShareRule['scope'];
  target?: string;
  /** Default: now. Never in the past: a schedule change is not retroactive. */
  effectiveFrom?: Date;
  tiers: Tier[];
  agencyBps?: number;
  note?: string;
}

const toRule = (r: any): ShareRule => ({
  id: r.id,
  scope: r.scope,
  target: r.target,
  effectiveFrom: r.effective_from,
  tiers: (r.tiers as Array<{ upTo: string | null; platformBps: number }>).map((t) => ({
    upTo: t.upTo === null ? null : BigInt(t.upTo),
    platformBps: t.platformBps,
  })),
  agencyBps: r.agency_bps,
  note: r.note,
  createdBy: r.created_by,
  createdAt: r.created_at,
});

const pct = (bps: number) => `${(bps / 100).toFixed(2).replace(/\.?0+$/, '')}%`;

/** "0% up to 1000000.00 USD lifetime, then 15%"; without a currency the thresholds read in minor units. */
export function describeRule(rule: Pick<ShareRule, 'tiers' | 'agencyBps'>, currency?: string): string {
  const parts = rule.tiers.map((t, i) =>
    t.upTo === null
      ? i === 0
        ? `flat ${pct(t.platformBps)}`
        : `then ${pct(t.platformBps)}`
      : `${pct(t.platformBps)} up to ${currency ? `${formatMinor(t.upTo, currency)} ${currency}` : `${t.upTo} minor units of`} lifetime`,
  );
  const agency = rule.agencyBps ? `; agencies get ${pct(rule.agencyBps)} of the platform share` : '';
  return `${parts.join(', ')}${agency}`;
}

/**
 * Splits one charge. The gross is cut into slices by the developer's lifetime
 * revenue before it (`lifetimeBefore`) and the tiers; each slice carries its
 * platform rate. The net (gross minus the processing fee) is then divided in
 * proportion to those rates with largest-remainder rounding, so
 * `fee + sum(parts) === amount` exactly.
 */
export function computeSplit(
  rule: Pick<ShareRule, 'id' | 'scope' | 'tiers' | 'agencyBps' | 'effectiveFrom'>,
  input: {
    amount: bigint;
    currency: string;
    processingFee: bigint;
    developerOrgId: string;
    agencyOrgId?: string | null;
    markup?: bigint;
  },
  lifetimeBefore: bigint,
): Split {
  const { amount, processingFee: fee } = input;
  const markup = input.agencyOrgId ? (input.markup ?? 0n) : 0n;
  // The schedule's tiers run over the developer's price; a resale markup is the agency's alone.
  const base = amount - markup;
  const slices: AppliedRule['slices'] = [];
  let lo = 0n;
  const start = lifetimeBefore;
  const end = lifetimeBefore + base;
  for (const t of rule.tiers) {
    const hi = t.upTo ?? end;
    const from = start > lo ? start : lo;
    const to = end < hi ? end : hi;
    if (to > from) slices.push({ amount: to - from, platformBps: t.platformBps });
    if (t.upTo === null) break;
    lo = t.upTo;
  }
  const agencyBps = input.agencyOrgId ? BigInt(rule.agencyBps) : 0n;
  let wPlatform = 0n;
  let wAgency = 0n;
  let wDeveloper = 0n;
  for (const s of slices) {
    const bps = BigInt(s.platformBps);
    wPlatform += s.amount * bps * (10000n - agencyBps);
    wAgency += s.amount * bps * agencyBps;
    wDeveloper += s.amount * (10000n - bps) * 10000n;
  }
  // Each unit of the base weighs 10000 * 10000 across the three weights above; the markup weighs
  // the same per unit, so the fee is borne pro rata by the markup and the rest.
  const weights = [wPlatform, wDeveloper, wAgency];
  if (markup > 0n) weights.push(markup * 100_000_000n);
  const [platform, developer, agencyShare, agencyMarkup = 0n] = allocate(amount - fee, weights);
  const parts: SplitPart[] = [
    { role: 'platform', amount: platform },
    { role: 'developer', party: input.developerOrgId, amount: developer },
  ];
  if (input.agencyOrgId)
    parts.push({
      role: 'agency',
      party: input.agencyOrgId,
      amount: agencyShare + agencyMarkup,
      ...(markup > 0n ? { markup: agencyMarkup } : {}),
    });
  return {
    amount,
    currency: input.currency,
    processingFee: fee,
    parts,
    rule: {
      ruleId: rule.id,
      scope: rule.scope,
      summary: describeRule(rule, input.currency),
      slices,
      agencyBps: Number(agencyBps),
      effectiveFrom: rule.effectiveFrom.toISOString(),
    },
  };
}

const jsonSplit = (s: Split) => ({
  ...s,
  amount: s.amount.toString(),
  processingFee: s.processingFee.toString(),
  parts: s.parts.map((p) => ({
    ...p,
    amount: p.amount.toString(),
    ...(p.markup !== undefined ? { markup: p.markup.toString() } : {}),
  })),
  rule: { ...s.rule, slices: s.rule.slices.map((x) => ({ ...x, amount: x.amount.toString() })) },
});

export function splitFromJson(r: any): Split {
  return {
    amount: BigInt(r.amount),
    currency: r.currency,
    processingFee: BigInt(r.processing_fee),
    parts: (r.parts as any[]).map((p) => ({
      ...p,
      amount: BigInt(p.amount),
      ...(p.markup !== undefined ? { markup: BigInt(p.markup) } : {}),
    })),
    rule: { ...r.rule, slices: (r.rule.slices as any[]).map((x) => ({ ...x, amount: BigInt(x.amount) })) },
  };
}

const jsonRefund = (s: RefundSplit) =>
  JSON.parse(JSON.stringify(s, (_, v) => (typeof v === 'bigint' ? v.toString() : v)));
const refundFromJson = (j: any): RefundSplit => ({
  amount: BigInt(j.amount),
  currency: j.currency,
  platform: BigInt(j.platform),
  partners: (j.partners as any[]).map((p) => ({
    ...p,
    amount: BigInt(p.amount),
    fromBalance: BigInt(p.fromBalance),
    fromTransfer: BigInt(p.fromTransfer),
    transfers: (p.transfers as any[]).map((t) => ({ transferId: t.transferId, amount: BigInt(t.amount) })),
  })),
});

function fail(fields: FieldError[]): never {
  throw new PlazaError('PLAZA_VALIDATION', fields.map((f) => `${f.field} ${f.reason}`).join('; '), {
    fields,
  });
}

export function validateTiers(tiers: unknown, field = 'tiers'): Tier[] {
  const fields: FieldError[] = [];
  if (!Array.isArray(tiers) || tiers.length === 0 || tiers.length > 10)
    fail([{ field, reason: 'needs 1 to 10 tiers' }]);
  let prev = 0n;
  tiers.forEach((t: any, i: number) => {
    if (!Number.isInteger(t?.platformBps) || t.platformBps < 0 || t.platformBps > 10000)
      fields.push({ field: `${field}[${i}].platformBps`, reason: 'must be an integer from 0 to 10000' });
    const last = i === tiers.length - 1;
    if (last && t?.upTo !== null && t?.upTo !== undefined)
      fields.push({ field: `${field}[${i}].upTo`, reason: 'the last tier has no upper bound (null)' });
    if (!last) {
      if (typeof t?.upTo !== 'bigint' || amountProblem(t.upTo))
        fields.push({ field: `${field}[${i}].upTo`, reason: 'must be a positive integer of minor units' });
      else if (t.upTo <= prev)
        fields.push({ field: `${field}[${i}].upTo`, reason: 'must grow from tier to tier' });
      else prev = t.upTo;
    }
  });
  if (fields.length) fail(fields);
  return tiers.map((t: any, i: number) => ({
    upTo: i === tiers.length - 1 ? null : t.upTo,
    platformBps: t.platformBps,
  }));
}

const DAY = 86_400_000;

export type Revenue = ReturnType<typeof createRevenue>;

/** The revenue-share schedule, and charges and refunds recorded with their split. */
export function createRevenue({ db, core, now }: { db: Db; core: LedgerCore; now: () => Date }) {
  async function ruleFor(q: Queryable, input: SplitChargeInput, at: Date): Promise<ShareRule> {
    const row = await q.maybeOne(
      `SELECT * FROM ledger_share_rules WHERE effective_from <= $1
         AND ((scope = 'developer' AND target = $2) OR (scope = 'category' AND target = $3) OR scope = 'default')
       ORDER BY CASE scope WHEN 'developer' THEN 0 WHEN 'category' THEN 1 ELSE 2 END, effective_from DESC LIMIT 1`,
      [at, input.developerOrgId, input.category ?? ''],
    );
    if (!row)
      throw new PlazaError('PLAZA_CONFLICT', 'no revenue-share rule is in force (add a default rule)');
    return toRule(row);
  }

  function checkSplitInput(input: SplitChargeInput): void {
    const fields: FieldError[] = [];
    const p = amountProblem(input.amount);
    if (p) fields.push({ field: 'amount', reason: p });
    if (
      typeof input.processingFee !== 'bigint' ||
      input.processingFee < 0n ||
      input.processingFee > MAX_AMOUNT
    )
      fields.push({ field: 'processingFee', reason: 'must be an integer of minor units, 0 or more' });
    else if (!p && input.processingFee > input.amount)
      fields.push({ field: 'processingFee', reason: 'cannot exceed the amount' });
    if (!isCurrency(input.currency))
      fields.push({ field: 'currency', reason: 'must be a supported ISO 4217 code in upper case' });
    if (!input.developerOrgId) fields.push({ field: 'developerOrgId', reason: 'is required' });
    if (!input.appId) fields.push({ field: 'appId', reason: 'is required' });
    if (input.markup !== undefined && input.markup !== 0n) {
      if (typeof input.markup !== 'bigint' || input.markup < 0n)
        fields.push({ field: 'markup', reason: 'must be an integer of minor units, 0 or more' });
      else if (!input.agencyOrgId)
        fields.push({ field: 'markup', reason: 'needs the agency that resold it' });
      else if (!p && input.markup >= input.amount)
        fields.push({
          field: 'markup',
          reason: "must be less than the amount (the developer's price is in it)",
        });
    }
    if (fields.length) fail(fields);
  }

  async function lifetime(q: Queryable, party: string, currency: string): Promise<bigint> {
    const r = await q.maybeOne<{ g: string }>(
      'SELECT lifetime_gross::text AS g FROM ledger_partner_totals WHERE party = $1 AND currency = $2',
      [party, currency],
    );
    return BigInt(r?.g ?? 0);
  }

  async function netDays(q: Queryable, party: string): Promise<number> {
    const r = await q.maybeOne<{ net_days: number }>(
      'SELECT net_days FROM ledger_partner_terms WHERE party = $1',
      [party],
    );
    return r?.net_days ?? 15;
  }

  async function splitCharge(input: SplitChargeInput, q: Queryable = db): Promise<Split> {
    checkSplitInput(input);
    const at = input.at ?? now();
    const rule = await ruleFor(q, input, at);
    return computeSplit(rule, input, await lifetime(q, input.developerOrgId, input.currency));
  }

  async function recordCharge(tx: Tx, input: RecordChargeInput): Promise<RecordChargeResult> {
    checkSplitInput(input);
    const fields: FieldError[] = [];
    for (const f of ['invoiceId', 'providerChargeId', 'provider', 'customerOrgId'] as const)
      if (typeof input[f] !== 'string' || !input[f]) fields.push({ field: f, reason: 'is required' });
    if (!(input.settlesAt instanceof Date) || Number.isNaN(+input.settlesAt))
      fields.push({ field: 'settlesAt', reason: 'must be a date' });
    if (fields.length) fail(fields);
    // One developer's charges are split one at a time: the tiers count lifetime revenue.
    await tx.query(
      'INSERT INTO ledger_partner_totals (party, currency) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [input.developerOrgId, input.currency],
    );
    const total = await tx.one<{ g: string }>(
      'SELECT lifetime_gross::text AS g FROM ledger_partner_totals WHERE party = $1 AND currency = $2 FOR UPDATE',
      [input.developerOrgId, input.currency],
    );
    const existing = await tx.maybeOne('SELECT * FROM ledger_charges WHERE invoice_id = $1', [
      input.invoiceId,
    ]);
    if (existing) {
      const same =
        BigInt(existing.amount) === input.amount &&
        BigInt(existing.processing_fee) === input.processingFee &&
        existing.currency === input.currency &&
        existing.developer_org_id === input.developerOrgId &&
        existing.provider_charge_id === input.providerChargeId;
      if (!same) throw conflict(`invoice ${input.invoiceId} was already recorded with other amounts`);
      return { transactionId: existing.transaction_id, replayed: true, split: splitFromJson(existing) };
    }
    const at = input.at ?? now();
    const rule = await ruleFor(tx, input, at);
    const split = computeSplit(rule, input, BigInt(total.g));
    const net = input.amount - input.processingFee;
    const platform = split.parts.find((p) => p.role === 'platform')!.amount;
    const all: LedgerEntryInput[] = [
      { account: { kind: 'provider_cash', party: input.provider }, direction: 'debit', amount: net },
      { account: { kind: 'processing_fees' }, direction: 'debit', amount: input.processingFee },
      // The platform's revenue is its share plus the fee it paid: its own net is the share.
      { account: { kind: 'platform_revenue' }, direction: 'credit', amount: platform + input.processingFee },
      ...split.parts
        .filter((p) => p.role !== 'platform')
        .map((p) => ({
          account: { kind: 'partner_pending' as const, party: p.party! },
          direction: 'credit' as const,
          amount: p.amount,
        })),
    ];
    const entries = all.filter((e) => e.amount > 0n);
    const posted = await core.post(tx, {
      idempotencyKey: `charge:${input.invoiceId}`,
      currency: input.currency,
      effectiveAt: at,
      description: input.description ?? `Charge ${input.invoiceId}`,
      sourceRef: { kind: 'charge', id: input.invoiceId, providerObjectId: input.providerChargeId },
      entries,
    });
    const js = jsonSplit(split);
    await tx.query(
      `INSERT INTO ledger_charges (invoice_id, transaction_id, provider, provider_charge_id, customer_org_id,
         developer_org_id, agency_org_id, app_id, category, currency, amount, processing_fee, parts, rule, rule_id,
         charged_at, settles_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)`,
      [
        input.invoiceId,
        posted.transactionId,
        input.provider,
        input.providerChargeId,
        input.customerOrgId,
        input.developerOrgId,
        input.agencyOrgId ?? null,
        input.appId,
        input.category ?? null,
        input.currency,
        input.amount.toString(),
        input.processingFee.toString(),
        JSON.stringify(js.parts),
        JSON.stringify(js.rule),
        rule.id,
        at,
        input.settlesAt,
      ],
    );
    for (const p of split.parts) {
      if (p.role === 'platform') continue;
      const days = await netDays(tx, p.party!);
      await tx.query(
        `INSERT INTO ledger_partner_lines (id, invoice_id, party, role, currency, amount, available_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          newId('pln'),
          input.invoiceId,
          p.party,
          p.role,
          input.currency,
          p.amount.toString(),
          new Date(input.settlesAt.getTime() + days * DAY),
        ],
      );
    }
    await tx.query(
      'UPDATE ledger_partner_totals SET lifetime_gross = lifetime_gross + $3 WHERE party = $1 AND currency = $2',
      [input.developerOrgId, input.currency, (input.amount - (input.markup ?? 0n)).toString()],
    );
    return { ...posted, split };
  }

  /**
   * Each party's part of `amount` taken back from a charge at its original rates (never
   * today's schedule; the fee counts as the platform's, which pays fees), `before` having
   * been taken already: cumulative allocation, so successive refunds and disputes never
   * drift. For each partner, what its unpaid balance still holds of the invoice's line
   * comes from there (`fromBalance`, from `account`); the rest was paid out (`fromTransfer`).
   * Locks the partners' lines.
   */
  async function sharesAtChargeRates(tx: Tx, charge: any, before: bigint, amount: bigint) {
    const original = splitFromJson(charge);
    const weights = original.parts.map((x) =>
      x.role === 'platform' ? x.amount + original.processingFee : x.amount,
    );
    const after = allocate(before + amount, weights);
    const prior = allocate(before, weights);
    let platform = 0n;
    const partners = [];
    for (const [i, part] of original.parts.entries()) {
      const share = after[i] - prior[i];
      if (part.role === 'platform') {
        platform = share;
        continue;
      }
      const line = await tx.one(
        'SELECT * FROM ledger_partner_lines WHERE invoice_id = $1 AND party = $2 FOR UPDATE',
        [charge.invoice_id, part.party],
      );
      const worth = BigInt(line.amount) - BigInt(line.refunded) - BigInt(line.netted) - BigInt(line.held);
      const inBalance = line.state === 'pending' || line.state === 'available';
      const fromBalance = inBalance ? (share < worth ? share : worth) : 0n;
      partners.push({
        part,
        share,
        line,
        fromBalance,
        fromTransfer: share - fromBalance,
        account: (line.state === 'pending' ? 'partner_pending' : 'partner_payable') as
          | 'partner_pending'
          | 'partner_payable',
      });
    }
    return { platform, partners };
  }

  async function recordRefund(tx: Tx, input: RecordRefundInput): Promise<RecordRefundResult> {
    const fields: FieldError[] = [];
    const p = amountProblem(input.amount);
    if (p) fields.push({ field: 'amount', reason: p });
    const feeReturned = input.feeReturned ?? 0n;
    if (typeof feeReturned !== 'bigint' || feeReturned < 0n)
      fields.push({ field: 'feeReturned', reason: 'must be an integer of minor units, 0 or more' });
    for (const f of ['refundId', 'invoiceId', 'providerRefundId', 'provider'] as const)
      if (typeof input[f] !== 'string' || !input[f]) fields.push({ field: f, reason: 'is required' });
    if (fields.length) fail(fields);
    const charge = await tx.maybeOne('SELECT * FROM ledger_charges WHERE invoice_id = $1 FOR UPDATE', [
      input.invoiceId,
    ]);
    if (!charge) throw notFound(`charge of invoice ${input.invoiceId}`);
    const done = await tx.maybeOne('SELECT * FROM ledger_refunds WHERE refund_id = $1', [input.refundId]);
    if (done) {
      if (BigInt(done.amount) !== input.amount || done.invoice_id !== input.invoiceId)
        throw conflict(`refund ${input.refundId} was already recorded with another amount`);
      return { transactionId: done.transaction_id, replayed: true, split: refundFromJson(done.split) };
    }
    if (input.currency !== charge.currency)
      fail([{ field: 'currency', reason: `must be the charge's currency (${charge.currency})` }]);
    const gross = BigInt(charge.amount);
    // Disputed money is gone from the charge as refunded money is: both count before this refund.
    const before = BigInt(charge.refunded) + BigInt(charge.disputed);
    if (before + input.amount > gross)
      fail([{ field: 'amount', reason: `exceeds what is left to refund (${gross - before})` }]);
    if (feeReturned > BigInt(charge.processing_fee))
      fail([{ field: 'feeReturned', reason: 'exceeds the processing fee of the charge' }]);
    const shares = await sharesAtChargeRates(tx, charge, before, input.amount);
    const entries: LedgerEntryInput[] = [
      {
        account: { kind: 'provider_cash', party: input.provider },
        direction: 'credit',
        amount: input.amount - feeReturned,
      },
      { account: { kind: 'processing_fees' }, direction: 'credit', amount: feeReturned },
      { account: { kind: 'platform_revenue' }, direction: 'debit', amount: shares.platform },
    ];
    const split: RefundSplit = {
      amount: input.amount,
      currency: input.currency,
      platform: shares.platform,
      partners: [],
    };
    for (const { part, share, line, fromBalance, fromTransfer, account } of shares.partners) {
      // What is still in the partner's balance for this line comes back from there;
      // what was paid out (or netted) becomes a receivable until a reversal settles it.
      entries.push({
        account: { kind: account, party: part.party! },
        direction: 'debit',
        amount: fromBalance,
      });
      entries.push({
        account: { kind: 'receivable_from_partner', party: part.party! },
        direction: 'debit',
        amount: fromTransfer,
      });
      split.partners.push({
        role: part.role as 'developer' | 'agency',
        party: part.party!,
        amount: share,
        fromBalance,
        fromTransfer,
        transfers:
          fromTransfer > 0n && line.transfer_id
            ? [{ transferId: line.transfer_id, amount: fromTransfer }]
            : [],
      });
      await tx.query('UPDATE ledger_partner_lines SET refunded = refunded + $2 WHERE id = $1', [
        line.id,
        share.toString(),
      ]);
    }
    const posted = await core.post(tx, {
      idempotencyKey: `refund:${input.refundId}`,
      currency: input.currency,
      effectiveAt: input.effectiveAt,
      description: `Refund ${input.refundId} of invoice ${input.invoiceId}`,
      sourceRef: { kind: 'refund', id: input.refundId, providerObjectId: input.providerRefundId },
      entries: entries.filter((e) => e.amount > 0n),
    });
    await tx.query('UPDATE ledger_charges SET refunded = refunded + $2 WHERE invoice_id = $1', [
      input.invoiceId,
      input.amount.toString(),
    ]);
    await tx.query(
      `INSERT INTO ledger_refunds (refund_id, invoice_id, transaction_id, provider_refund_id, currency, amount, fee_returned, split)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`,
      [
        input.refundId,
        input.invoiceId,
        posted.transactionId,
        input.providerRefundId,
        input.currency,
        input.amount.toString(),
        feeReturned.toString(),
        JSON.stringify(jsonRefund(split)),
      ],
    );
    return { ...posted, split };
  }

  /**
   * A dispute of an invoice's charge. `opened`: the provider took the amount and its fee from
   * the platform's balance; until the outcome both sit in `dispute_losses`, and each partner's
   * share of the amount (at the charge's rates) still in its balance moves to `disputes_held`
   * (its line's `held`), so no payout carries it. `won`: the amount comes back and the held
   * shares return to the partners; the fee stays a loss. `lost`: the partners bear their
   * shares as in a refund (the held part, and a receivable for what was already paid out);
   * the platform keeps the rest of the loss and the fee. A close that arrives before the
   * opening posts the opening first, so any order ends balanced; each phase posts once.
   */
  async function recordDispute(tx: Tx, input: RecordDisputeInput): Promise<PostResult> {
    const fields: FieldError[] = [];
    for (const f of ['disputeId', 'invoiceId', 'provider'] as const)
      if (typeof input[f] !== 'string' || !input[f]) fields.push({ field: f, reason: 'is required' });
    if (!['opened', 'won', 'lost'].includes(input.phase))
      fields.push({ field: 'phase', reason: 'must be opened, won or lost' });
    const p = amountProblem(input.amount);
    if (p) fields.push({ field: 'amount', reason: p });
    if (typeof input.fee !== 'bigint' || input.fee < 0n || input.fee > MAX_AMOUNT)
      fields.push({ field: 'fee', reason: 'must be an integer of minor units, 0 or more' });
    if (fields.length) fail(fields);
    const charge = await tx.maybeOne('SELECT * FROM ledger_charges WHERE invoice_id = $1 FOR UPDATE', [
      input.invoiceId,
    ]);
    if (!charge) throw notFound(`charge of invoice ${input.invoiceId}`);
    if (input.currency !== charge.currency)
      fail([{ field: 'currency', reason: `must be the charge's currency (${charge.currency})` }]);
    let d = await tx.maybeOne('SELECT * FROM ledger_disputes WHERE dispute_id = $1 FOR UPDATE', [
      input.disputeId,
    ]);
    if (d && (d.invoice_id !== input.invoiceId || BigInt(d.amount) !== input.amount))
      throw conflict(`dispute ${input.disputeId} was already recorded with another invoice or amount`);
    const opening = !d;
    if (!d) d = await openDispute(tx, charge, input);
    if (input.phase === 'opened') return { transactionId: d.opened_transaction_id, replayed: !opening };
    if (d.status !== 'open') {
      if (d.status !== input.phase) throw conflict(`dispute ${input.disputeId} was already ${d.status}`);
      return { transactionId: d.closed_transaction_id, replayed: true };
    }
    return closeDispute(tx, d, input.phase);
  }

  async function openDispute(tx: Tx, charge: any, input: RecordDisputeInput) {
    const before = BigInt(charge.refunded) + BigInt(charge.disputed);
    const left = BigInt(charge.amount) - before;
    if (input.amount > left)
      fail([{ field: 'amount', reason: `exceeds what is left of the charge (${left})` }]);
    const shares = await sharesAtChargeRates(tx, charge, before, input.amount);
    const entries: LedgerEntryInput[] = [
      {
        account: { kind: 'provider_cash', party: input.provider },
        direction: 'credit',
        amount: input.amount + input.fee,
      },
      { account: { kind: 'dispute_losses' }, direction: 'debit', amount: input.amount + input.fee },
    ];
    for (const { part, fromBalance, account, line } of shares.partners) {
      entries.push({
        account: { kind: account, party: part.party! },
        direction: 'debit',
        amount: fromBalance,
      });
      entries.push({
        account: { kind: 'disputes_held', party: part.party! },
        direction: 'credit',
        amount: fromBalance,
      });
      await tx.query('UPDATE ledger_partner_lines SET held = held + $2 WHERE id = $1', [
        line.id,
        fromBalance.toString(),
      ]);
    }
    const posted = await core.post(tx, {
      idempotencyKey: `dispute:${input.disputeId}:opened`,
      currency: input.currency,
      description: `Dispute ${input.disputeId} of invoice ${input.invoiceId} opened`,
      sourceRef: { kind: 'dispute', id: input.disputeId, providerObjectId: input.disputeId },
      entries: entries.filter((e) => e.amount > 0n),
    });
    await tx.query('UPDATE ledger_charges SET disputed = disputed + $2 WHERE invoice_id = $1', [
      input.invoiceId,
      input.amount.toString(),
    ]);
    const split = shares.partners.map((x) => ({
      party: x.part.party,
      role: x.part.role,
      amount: x.share.toString(),
      held: x.fromBalance.toString(),
    }));
    return tx.one(
      `INSERT INTO ledger_disputes (dispute_id, invoice_id, provider, currency, amount, fee, status, split, opened_transaction_id)
       VALUES ($1,$2,$3,$4,$5,$6,'open',$7,$8) RETURNING *`,
      [
        input.disputeId,
        input.invoiceId,
        input.provider,
        input.currency,
        input.amount.toString(),
        input.fee.toString(),
        JSON.stringify(split),
        posted.transactionId,
      ],
    );
  }

  async function closeDispute(tx: Tx, d: any, outcome: 'won' | 'lost'): Promise<PostResult> {
    const amount = BigInt(d.amount);
    const entries: LedgerEntryInput[] =
      outcome === 'won'
        ? [
            { account: { kind: 'provider_cash', party: d.provider }, direction: 'debit', amount },
            { account: { kind: 'dispute_losses' }, direction: 'credit', amount },
          ]
        : [];
    for (const x of d.split as Array<{ party: string; amount: string; held: string }>) {
      const share = BigInt(x.amount);
      const held = BigInt(x.held);
      const line = await tx.one(
        'SELECT * FROM ledger_partner_lines WHERE invoice_id = $1 AND party = $2 FOR UPDATE',
        [d.invoice_id, x.party],
      );
      entries.push({ account: { kind: 'disputes_held', party: x.party }, direction: 'debit', amount: held });
      if (outcome === 'won') {
        // A line with a hold is never paid out, so it is still pending or available.
        entries.push({
          account: { kind: line.state === 'pending' ? 'partner_pending' : 'partner_payable', party: x.party },
          direction: 'credit',
          amount: held,
        });
      } else {
        // Lost: the partner's share goes as in a refund; what had been paid out is owed back.
        entries.push({
          account: { kind: 'receivable_from_partner', party: x.party },
          direction: 'debit',
          amount: share - held,
        });
        entries.push({ account: { kind: 'dispute_losses' }, direction: 'credit', amount: share });
      }
      await tx.query(
        'UPDATE ledger_partner_lines SET held = held - $2, refunded = refunded + $3 WHERE id = $1',
        [line.id, held.toString(), outcome === 'lost' ? share.toString() : '0'],
      );
    }
    const kept = entries.filter((e) => e.amount > 0n);
    // A lost dispute with nothing for partners to bear moves nothing: it stays the platform's loss.
    const posted =
      kept.length > 0
        ? await core.post(tx, {
            idempotencyKey: `dispute:${d.dispute_id}:${outcome}`,
            currency: d.currency,
            description: `Dispute ${d.dispute_id} of invoice ${d.invoice_id} ${outcome}`,
            sourceRef: {
              kind: 'dispute',
              id: d.dispute_id,
              ...(outcome === 'won' ? { providerObjectId: d.dispute_id } : {}),
            },
            entries: kept,
          })
        : { transactionId: d.opened_transaction_id, replayed: false };
    if (outcome === 'won')
      await tx.query('UPDATE ledger_charges SET disputed = disputed - $2 WHERE invoice_id = $1', [
        d.invoice_id,
        amount.toString(),
      ]);
    await tx.query(
      'UPDATE ledger_disputes SET status = $2, closed_transaction_id = $3 WHERE dispute_id = $1',
      [d.dispute_id, outcome, posted.transactionId],
    );
    return posted;
  }

  async function recordTransferReversal(
    tx: Tx,
    input: Parameters<import('./port.ts').LedgerPort['recordTransferReversal']>[1],
  ): Promise<PostResult> {
    const p = amountProblem(input.amount);
    if (p) fail([{ field: 'amount', reason: p }]);
    return core.post(tx, {
      idempotencyKey: `rev:${input.refundId}:${input.transferId}`,
      currency: input.currency,
      description: `Reversal of ${input.transferId} for refund ${input.refundId}`,
      sourceRef: {
        kind: 'transfer_reversal',
        id: input.refundId,
        providerObjectId: input.providerReversalId,
      },
      entries: [
        {
          account: { kind: 'provider_cash', party: input.provider },
          direction: 'debit',
          amount: input.amount,
        },
        {
          account: { kind: 'receivable_from_partner', party: input.partnerOrgId },
          direction: 'credit',
          amount: input.amount,
        },
      ],
    });
  }

  return {
    ...createResaleReports({ db }),
    splitCharge,
    recordCharge,
    recordRefund,
    recordDispute,
    recordTransferReversal,

    /**
     * Posts a transaction that credits partners' pending balances outside an app charge (a
     * plugin's agency markup on its own invoice): like `post`, and each `partner_pending` credit
     * also becomes a payout line keyed by the transaction's idempotency key, so it is released
     * after the partner's net terms from `effectiveAt` and paid out like a charge's share
     * (the payout's transfer has no source charge). Idempotent like `post`.
     */
    async postPartnerShares(tx: Tx, input: PostInput, role: PartnerRole = 'agency'): Promise<PostResult> {
      const posted = await core.post(tx, input);
      if (posted.replayed) return posted;
      const at = input.effectiveAt ?? now();
      const shares = new Map<string, bigint>();
      for (const e of input.entries)
        if (e.account.kind === 'partner_pending' && e.direction === 'credit' && e.account.party)
          shares.set(e.account.party, (shares.get(e.account.party) ?? 0n) + e.amount);
      for (const [party, amount] of shares)
        await tx.query(
          `INSERT INTO ledger_partner_lines (id, invoice_id, party, role, currency, amount, available_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            newId('pln'),
            input.idempotencyKey,
            party,
            role,
            input.currency,
            amount.toString(),
            new Date(at.getTime() + (await netDays(tx, party)) * DAY),
          ],
        );
      return posted;
    },

    /** The schedule, newest first. */
    async listRules(): Promise<ShareRule[]> {
      return (await db.query('SELECT * FROM ledger_share_rules ORDER BY effective_from DESC, id DESC')).map(
        toRule,
      );
    },

    /** Adds a rule. It takes effect at `effectiveFrom` (now or later): charges before it keep their split. */
    async addRule(input: NewShareRule, createdBy: string | null): Promise<ShareRule> {
      const fields: FieldError[] = [];
      if (!['default', 'category', 'developer'].includes(input.scope))
        fields.push({ field: 'scope', reason: 'must be default, category or developer' });
      const target = input.scope === 'default' ? '' : (input.target ?? '');
      if (input.scope !== 'default' && !target)
        fields.push({ field: 'target', reason: `names the ${input.scope}` });
      if (input.scope === 'default' && input.target)
        fields.push({ field: 'target', reason: 'the default rule has no target' });
      const at = now();
      const from = input.effectiveFrom ?? at;
      if (Number.isNaN(+from)) fields.push({ field: 'effectiveFrom', reason: 'must be a date' });
      // A minute of grace for clocks; older dates would rewrite splits already made.
      else if (from.getTime() < at.getTime() - 60_000)
        fields.push({
          field: 'effectiveFrom',
          reason: 'is in the past: schedule changes are never retroactive',
        });
      const agencyBps = input.agencyBps ?? 0;
      if (!Number.isInteger(agencyBps) || agencyBps < 0 || agencyBps > 10000)
        fields.push({ field: 'agencyBps', reason: 'must be an integer from 0 to 10000' });
      if (input.note !== undefined && (typeof input.note !== 'string' || input.note.length > 500))
        fields.push({ field: 'note', reason: 'at most 500 characters' });
      if (fields.length) fail(fields);
      const tiers = validateTiers(input.tiers);
      const row = await db.maybeOne(
        `INSERT INTO ledger_share_rules (id, scope, target, effective_from, tiers, agency_bps, note, created_by)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (scope, target, effective_from) DO NOTHING RETURNING *`,
        [
          newId('rsr'),
          input.scope,
          target,
          from < at ? at : from,
          JSON.stringify(
            tiers.map((t) => ({ upTo: t.upTo?.toString() ?? null, platformBps: t.platformBps })),
          ),
          agencyBps,
          input.note ?? null,
          createdBy,
        ],
      );
      if (!row) throw conflict('a rule for this target already starts at that instant');
      return toRule(row);
    },

    /** Withdraws a rule that is not in force yet; rules in force stay (charges were split by them). */
    async deleteRule(id: string): Promise<void> {
      const r = await db.maybeOne('SELECT * FROM ledger_share_rules WHERE id = $1', [id]);
      if (!r) throw notFound('revenue-share rule');
      if (r.effective_from <= now())
        throw conflict('this rule is already in force: add a new rule to change the schedule');
      await db.query('DELETE FROM ledger_share_rules WHERE id = $1 AND effective_from > $2', [id, now()]);
    },

    async setPayoutTerms(party: string, days: number): Promise<{ party: string; netDays: number }> {
      if (days !== 15 && days !== 30) fail([{ field: 'netDays', reason: 'must be 15 or 30' }]);
      await db.query(
        `INSERT INTO ledger_partner_terms (party, net_days) VALUES ($1, $2)
         ON CONFLICT (party) DO UPDATE SET net_days = EXCLUDED.net_days, updated_at = now()`,
        [party, days],
      );
      return { party, netDays: days };
    },

    payoutTerms: async (party: string) => ({ party, netDays: await netDays(db, party) }),

    /** A recorded charge with its split and rule. */
    async charge(invoiceId: string, q: Queryable = db) {
      const r = await q.maybeOne('SELECT * FROM ledger_charges WHERE invoice_id = $1', [invoiceId]);
      return r
        ? {
            invoiceId,
            transactionId: r.transaction_id as string,
            refunded: BigInt(r.refunded),
            split: splitFromJson(r),
          }
        : undefined;
    },
  };
}
