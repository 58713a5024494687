import {
  type LedgerEntryInput,
  newId,
  notFound,
  type Queryable,
  type Tx,
} from '../../server/plugin-api/index.ts';
import { type BillingContext, meterLine } from './context.ts';
import { formatMoney } from './pricing.ts';

export type LineKind = 'subscription' | 'overage' | 'credits' | 'proration' | 'credit_applied' | 'tax';

export interface LineInput {
  kind: LineKind;
  description: string;
  amount: number | bigint;
  meter?: string | null;
  quantity?: number | null;
  /** Agency rebilling: the part of `amount` over the plan's price, owed to the sub-account's agency. */
  agency?: { id: string; markup: bigint };
}

export interface InvoiceView {
  id: string;
  organizationId: string;
  number: string | null;
  kind: 'period' | 'change';
  status: 'draft' | 'open' | 'paid' | 'void';
  currency: string;
  periodStart: string;
  periodEnd: string;
  usageStart: string | null;
  usageEnd: string | null;
  total: number | null;
  paymentAttempts: number;
  lastFailure: string | null;
  createdAt: string;
  finalizedAt: string | null;
  paidAt: string | null;
  lines: Array<{
    kind: LineKind;
    description: string;
    meter: string | null;
    quantity: number | null;
    amount: number;
  }>;
}

const iso = (d: unknown) => (d ? new Date(d as string).toISOString() : null);

/**
 * Invoices: drafted when a period starts, finalized (numbered per issuer
 * without gaps, posted to the ledger, immutable: the database refuses any
 * later change but open -> paid/void) once the usage it bills can no longer
 * change, i.e. after the late-event window of the usage period.
 */
export function createInvoices(b: BillingContext) {
  const { ctx } = b;
  // Usage may still arrive for this long after the window closes (events in flight).
  const delayMs = (ctx.config.invoiceDelayHours ?? ctx.config.latenessHours) * 3_600_000;
  const settleMs = delayMs + Math.min(60_000, delayMs);

  async function draft(
    tx: Tx,
    input: {
      organizationId: string;
      subscriptionId: string;
      kind: 'period' | 'change';
      currency: string;
      periodStart: Date;
      periodEnd: Date;
      usage?: { start: Date; end: Date; planVersionId: string } | null;
      lines: LineInput[];
    },
  ): Promise<string> {
    const id = newId('binv');
    await tx.query(
      `INSERT INTO billing_invoices (id, organization_id, subscription_id, issuer, kind, status, currency,
         period_start, period_end, usage_start, usage_end, plan_version_id)
       VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $10, $11)`,
      [
        id,
        input.organizationId,
        input.subscriptionId,
        ctx.config.issuer,
        input.kind,
        input.currency,
        input.periodStart.toISOString(),
        input.periodEnd.toISOString(),
        input.usage?.start.toISOString() ?? null,
        input.usage?.end.toISOString() ?? null,
        input.usage?.planVersionId ?? null,
      ],
    );
    await addLines(tx, id, input.lines);
    return id;
  }

  async function addLines(tx: Tx, invoiceId: string, lines: LineInput[]) {
    const at = await tx.one<{ n: number }>(
      'SELECT coalesce(max(position), 0) AS n FROM billing_invoice_lines WHERE invoice_id = $1',
      [invoiceId],
    );
    let position = Number(at.n);
    for (const l of lines)
      await tx.query(
        `INSERT INTO billing_invoice_lines (invoice_id, position, kind, description, meter, quantity, amount,
           agency_id, agency_markup)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          invoiceId,
          ++position,
          l.kind,
          l.description,
          l.meter ?? null,
          l.quantity ?? null,
          String(l.amount),
          l.agency?.id ?? null,
          l.agency ? String(l.agency.markup) : null,
        ],
      );
  }

  /** Drafts whose usage can no longer change. */
  async function due(limit = 100): Promise<string[]> {
    const rows = await ctx.db.query<{ id: string }>(
      `SELECT id FROM billing_invoices WHERE status = 'draft'
          AND (usage_end IS NULL OR usage_end <= now() - make_interval(secs => $1::bigint / 1000.0))
        ORDER BY created_at LIMIT $2`,
      [settleMs, limit],
    );
    return rows.map((r) => r.id);
  }

  /**
   * Finalizes a draft in `tx`: overage and credits lines from the usage period,
   * the subscriber's carried credit, a tax placeholder, the total, the next
   * number, the ledger posting and the event. Returns false when it was not a draft.
   */
  async function finalize(tx: Tx, invoiceId: string): Promise<boolean> {
    const inv = await tx.maybeOne(
      "SELECT * FROM billing_invoices WHERE id = $1 AND status = 'draft' FOR UPDATE",
      [invoiceId],
    );
    if (!inv) return false;
    if (inv.usage_start) {
      const version = await b.plans.version(inv.plan_version_id, tx);
      const start = new Date(inv.usage_start);
      const end = new Date(inv.usage_end);
      const usage = await b.metering.usage(inv.organization_id, start, end, tx);
      const lines: LineInput[] = [];
      for (const u of usage) {
        const { included, overage, units } = meterLine(version, u.meter, u.value);
        if (included === null || !units) continue;
        lines.push({
          kind: 'overage',
          description: `${u.name}: ${u.value} ${u.unit}, ${included} included`,
          meter: u.meter,
          quantity: units,
          amount: overage ?? 0,
        });
      }
      const spent = await b.credits.spent(inv.organization_id, start, end);
      if (spent)
        lines.push({
          kind: 'credits',
          description: `Prepaid credits used: ${spent}`,
          quantity: spent,
          amount: 0,
        });
      await addLines(tx, invoiceId, lines);
    }
    // A period with nothing billed (no fee, no overage) gets no numbered 0.00 invoice.
    const billed = await tx.maybeOne(
      "SELECT 1 FROM billing_invoice_lines WHERE invoice_id = $1 AND kind IN ('subscription', 'overage', 'proration') LIMIT 1",
      [invoiceId],
    );
    if (!billed) {
      await tx.query('DELETE FROM billing_invoice_lines WHERE invoice_id = $1', [invoiceId]);
      await tx.query('DELETE FROM billing_invoices WHERE id = $1', [invoiceId]);
      return false;
    }
    const subtotal = await sum(tx, invoiceId);
    // A credit the subscriber carries (a downgrade's proration) comes off before tax.
    if (subtotal > 0n && inv.subscription_id) {
      const sub = await tx.maybeOne(
        'SELECT credit_balance FROM billing_subscriptions WHERE id = $1 FOR UPDATE',
        [inv.subscription_id],
      );
      const carried = BigInt(sub?.credit_balance ?? 0);
      const applied = carried < subtotal ? carried : subtotal;
      if (applied > 0n) {
        await addLines(tx, invoiceId, [
          { kind: 'credit_applied', description: 'Credit from an earlier plan change', amount: -applied },
        ]);
        await tx.query(
          'UPDATE billing_subscriptions SET credit_balance = credit_balance - $2 WHERE id = $1',
          [inv.subscription_id, String(applied)],
        );
      }
    }
    await addLines(tx, invoiceId, [{ kind: 'tax', description: 'Tax (not computed yet)', amount: 0 }]);
    const total = await sum(tx, invoiceId);
    const counter = await tx.one<{ last_number: number }>(
      `INSERT INTO billing_invoice_counters (issuer, last_number) VALUES ($1, 1)
       ON CONFLICT (issuer) DO UPDATE SET last_number = billing_invoice_counters.last_number + 1
       RETURNING last_number`,
      [inv.issuer],
    );
    const number = `${ctx.config.invoicePrefix ? `${ctx.config.invoicePrefix}-` : ''}${String(counter.last_number).padStart(6, '0')}`;
    const paid = total === 0n;
    await tx.query(
      `UPDATE billing_invoices SET number = $2, total = $3, status = $4, finalized_at = now(),
              paid_at = CASE WHEN $4 = 'paid' THEN now() END WHERE id = $1`,
      [invoiceId, number, String(total), paid ? 'paid' : 'open'],
    );
    const money = { amount: Number(total), currency: inv.currency };
    if (total > 0n) {
      // Agency rebilling: the markup is the agency's (its pending balance, paid out after its net
      // terms), the plan's price the platform's. A credit taking the total below the markup
      // leaves the agency what was billed.
      const shares = await tx.query<{ agency_id: string; m: string }>(
        `SELECT agency_id, sum(agency_markup)::text AS m FROM billing_invoice_lines
         WHERE invoice_id = $1 AND agency_id IS NOT NULL GROUP BY 1 ORDER BY 1`,
        [invoiceId],
      );
      let left = total;
      const agencies: LedgerEntryInput[] = [];
      for (const a of shares) {
        const amount = BigInt(a.m) < left ? BigInt(a.m) : left;
        left -= amount;
        if (amount > 0n)
          agencies.push({
            account: { kind: 'partner_pending', party: a.agency_id },
            direction: 'credit',
            amount,
          });
      }
      await ctx.ledger.post(tx, {
        idempotencyKey: `invoice:${invoiceId}`,
        currency: inv.currency,
        description: `Invoice ${number}`,
        sourceRef: { kind: 'invoice', id: invoiceId },
        entries: [
          {
            account: { kind: 'customer_receivable', party: inv.organization_id },
            direction: 'debit',
            amount: total,
          },
          ...(left > 0n
            ? [{ account: { kind: 'platform_revenue' as const }, direction: 'credit' as const, amount: left }]
            : []),
          ...agencies,
        ],
      });
    }
    await ctx.events.emit(tx, inv.organization_id, 'billing.invoice_finalized', {
      invoiceId,
      number,
      total: money,
    });
    if (paid)
      await ctx.events.emit(tx, inv.organization_id, 'billing.invoice_paid', {
        invoiceId,
        number,
        total: money,
      });
    return true;
  }

  async function sum(q: Queryable, invoiceId: string): Promise<bigint> {
    const r = await q.one<{ s: string }>(
      'SELECT coalesce(sum(amount), 0)::text AS s FROM billing_invoice_lines WHERE invoice_id = $1',
      [invoiceId],
    );
    return BigInt(r.s);
  }

  /**
   * Marks an open invoice paid (once: a second call, e.g. the event after the
   * synchronous answer, changes nothing) and posts the cash to the ledger.
   * Returns the organization when this call paid it.
   */
  async function markPaid(
    tx: Tx,
    invoiceId: string,
    charge: { chargeId?: string; settled?: boolean },
  ): Promise<string | undefined> {
    const inv = await tx.maybeOne(
      "UPDATE billing_invoices SET status = 'paid', paid_at = now() WHERE id = $1 AND status = 'open' RETURNING *",
      [invoiceId],
    );
    if (!inv) return undefined;
    const total = BigInt(inv.total);
    // Billing's charges `settle` the invoice's receivable: payments booked the cash against it,
    // nothing to post. A charge asked for without it (an older checkout page paid later) was
    // booked as platform revenue; the revenue of an invoice was booked when it was finalized, so
    // that payment moves the revenue back onto the receivable: counted once, receivable cleared.
    if (!charge.settled)
      await ctx.ledger.post(tx, {
        idempotencyKey: `invoice_paid:${invoiceId}`,
        currency: inv.currency,
        description: `Payment of invoice ${inv.number}`,
        sourceRef: {
          kind: 'invoice_payment',
          id: invoiceId,
          ...(charge.chargeId ? { providerObjectId: charge.chargeId } : {}),
        },
        entries: [
          { account: { kind: 'platform_revenue' }, direction: 'debit', amount: total },
          {
            account: { kind: 'customer_receivable', party: inv.organization_id },
            direction: 'credit',
            amount: total,
          },
        ],
      });
    await ctx.events.emit(tx, inv.organization_id, 'billing.invoice_paid', {
      invoiceId,
      number: inv.number,
      total: { amount: Number(total), currency: inv.currency },
    });
    return inv.organization_id;
  }

  async function view(q: Queryable, organizationId: string, invoiceId: string): Promise<InvoiceView> {
    const inv = await q.maybeOne('SELECT * FROM billing_invoices WHERE id = $1 AND organization_id = $2', [
      invoiceId,
      organizationId,
    ]);
    if (!inv) throw notFound('invoice');
    const lines = await q.query(
      'SELECT * FROM billing_invoice_lines WHERE invoice_id = $1 ORDER BY position',
      [invoiceId],
    );
    return toView(inv, lines);
  }

  async function list(organizationId: string): Promise<InvoiceView[]> {
    const rows = await ctx.db.query(
      'SELECT * FROM billing_invoices WHERE organization_id = $1 ORDER BY created_at DESC, id DESC LIMIT 100',
      [organizationId],
    );
    const lines = await ctx.db.query(
      'SELECT * FROM billing_invoice_lines WHERE invoice_id = ANY($1::text[]) ORDER BY invoice_id, position',
      [rows.map((r) => r.id)],
    );
    return rows.map((r) =>
      toView(
        r,
        lines.filter((l) => l.invoice_id === r.id),
      ),
    );
  }

  return { draft, addLines, due, finalize, markPaid, view, list };
}

export type Invoices = ReturnType<typeof createInvoices>;

function toView(inv: any, lines: any[]): InvoiceView {
  return {
    id: inv.id,
    organizationId: inv.organization_id,
    number: inv.number,
    kind: inv.kind,
    status: inv.status,
    currency: inv.currency,
    periodStart: iso(inv.period_start)!,
    periodEnd: iso(inv.period_end)!,
    usageStart: iso(inv.usage_start),
    usageEnd: iso(inv.usage_end),
    total: inv.total === null ? null : Number(inv.total),
    paymentAttempts: inv.payment_attempts,
    lastFailure: inv.last_failure,
    createdAt: iso(inv.created_at)!,
    finalizedAt: iso(inv.finalized_at),
    paidAt: iso(inv.paid_at),
    lines: lines.map((l) => ({
      kind: l.kind,
      description: l.description,
      meter: l.meter,
      quantity: l.quantity === null ? null : Number(l.quantity),
      amount: Number(l.amount),
    })),
  };
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A self-contained HTML invoice (print to PDF from the browser). */
export function invoiceHtml(inv: InvoiceView, org: { name: string }, issuer: string): string {
  const money = (n: number) => escapeHtml(formatMoney(n, inv.currency));
  const rows = inv.lines
    .map(
      (l) =>
        `<tr><td>${escapeHtml(l.description)}</td><td class="n">${l.quantity ?? ''}</td><td class="n">${money(l.amount)}</td></tr>`,
    )
    .join('\n');
  const title = inv.number ? `Invoice ${inv.number}` : 'Draft invoice';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:720px;margin:2rem auto;color:#222}
table{width:100%;border-collapse:collapse}td,th{padding:.4rem;border-bottom:1px solid #ddd;text-align:left}
.n{text-align:right}tfoot td{font-weight:bold}</style></head>
<body>
<h1>${escapeHtml(title)}</h1>
<p>Issued by ${escapeHtml(issuer)} to ${escapeHtml(org.name)}<br>
Period ${inv.periodStart.slice(0, 10)} to ${inv.periodEnd.slice(0, 10)}<br>
Status: ${escapeHtml(inv.status)}${inv.finalizedAt ? `, finalized ${inv.finalizedAt.slice(0, 10)}` : ''}${inv.paidAt ? `, paid ${inv.paidAt.slice(0, 10)}` : ''}</p>
<table><thead><tr><th>Description</th><th class="n">Quantity</th><th class="n">Amount</th></tr></thead>
<tbody>
${rows}
</tbody>
<tfoot><tr><td>Total</td><td></td><td class="n">${inv.total === null ? '' : money(inv.total)}</td></tr></tfoot></table>
</body></html>`;
}
