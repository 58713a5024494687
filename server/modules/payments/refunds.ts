import type { Db, Row, Tx } from '../../db/index.ts';
import { conflict, notFound, PlazaError } from '../../errors.ts';
import { newId } from '../../ids.ts';
import type { Logger } from '../../logger.ts';
import type { Actor } from '../../tenancy.ts';
import type { AuditService } from '../audit/index.ts';
import type { EventsService } from '../events/index.ts';
import type { LedgerService, RefundSplit } from '../ledger/index.ts';
import type { PaymentProvider } from './provider.ts';
import { ProviderRefusal } from './provider.ts';
import type { EventHandler } from './provider-events.ts';
import type { SandboxProvider } from './sandbox-adapter.ts';
import { PAYMENT_EVENT_TYPES } from './subscriptions.ts';

/**
 * Refunds and disputes.
 *
 * A refund (full or partial) is split at the original charge's rates by the
 * ledger. Each partner's share that was already transferred is reversed on
 * the provider first (`rev:{refund}:{transfer}`, pro rata), and only then is
 * the customer refunded: the step that can be refused goes first. A reversal
 * the provider refuses (the partner was paid out) stays a receivable from the
 * partner, which the ledger nets from the next payouts. Every provider call
 * carries a key, so a refund that stopped half way is finished by running it
 * again (the refunds job does, for any left pending).
 */
export interface RefundView {
  id: string;
  invoiceId: string;
  amount: number;
  currency: string;
  status: 'pending' | 'succeeded' | 'failed';
  reason: string | null;
  reversals: Array<{ partner: string; transferId: string; reversalId: string; amount: number }>;
  /** Shares that could not be taken back from a partner: receivables netted from their next payouts. */
  unreversed: Array<{ partner: string; transferId: string | null; amount: number; why: string }>;
  failure: string | null;
  createdAt: string;
  completedAt: string | null;
}

/** Thrown inside a planning transaction to roll it back with the split the ledger computed. */
class Planned extends Error {
  readonly split: RefundSplit;
  constructor(split: RefundSplit) {
    super('planned');
    this.split = split;
  }
}

const view = (r: Row): RefundView => ({
  id: r.id,
  invoiceId: r.invoice_id,
  amount: Number(r.amount),
  currency: r.currency,
  status: r.status,
  reason: r.reason,
  reversals: r.reversals,
  unreversed: r.unreversed,
  failure: r.failure,
  createdAt: new Date(r.created_at).toISOString(),
  completedAt: r.completed_at ? new Date(r.completed_at).toISOString() : null,
});

/** A dispute as the API shows it. */
export interface DisputeView {
  id: string;
  invoiceId: string | null;
  amount: number;
  fee: number;
  currency: string;
  reason: string | null;
  status: string;
  reversals: RefundView['reversals'];
  unreversed: RefundView['unreversed'];
  openedAt: string;
  closedAt: string | null;
}

const disputeView = (r: Row): DisputeView => ({
  id: r.id,
  invoiceId: r.invoice_id,
  amount: Number(r.amount),
  fee: Number(r.fee),
  currency: r.currency,
  reason: r.reason,
  status: r.status,
  reversals: r.reversals,
  unreversed: r.unreversed,
  openedAt: new Date(r.opened_at).toISOString(),
  closedAt: r.closed_at ? new Date(r.closed_at).toISOString() : null,
});

export function createRefunds(deps: {
  db: Db;
  log: Logger;
  provider: PaymentProvider;
  ledger: LedgerService;
  events: EventsService;
  audit: AuditService;
}) {
  const { db, log, provider, ledger, events, audit } = deps;
  const sandboxOnly = (): SandboxProvider => {
    if (provider.name !== 'sandbox')
      throw new PlazaError(
        'PLAZA_NOT_FOUND',
        'this Plaza runs on Stripe; simulated disputes are a sandbox feature',
      );
    return provider as SandboxProvider;
  };

  /** The ledger's split of this refund, computed in a transaction that is rolled back. */
  async function plan(r: Row): Promise<RefundSplit> {
    try {
      await db.transaction(async (tx) => {
        const res = await ledger.recordRefund(tx, {
          refundId: r.id,
          invoiceId: r.invoice_id,
          providerRefundId: 'planning',
          provider: provider.name,
          amount: BigInt(r.amount),
          currency: r.currency,
        });
        throw new Planned(res.split);
      });
    } catch (err) {
      if (err instanceof Planned) return err.split;
      throw err;
    }
    throw new Error('unreachable');
  }

  /** Runs (or finishes) a refund; every step is keyed, so running it twice does each once. */
  async function process(refundId: string): Promise<RefundView> {
    const r = await db.one('SELECT * FROM payments_refunds WHERE id = $1', [refundId]);
    if (r.status !== 'pending') return view(r);
    const inv = await db.one('SELECT * FROM payments_invoices WHERE id = $1', [r.invoice_id]);
    const split = await plan(r);
    const reversals: RefundView['reversals'] = [];
    const unreversed: RefundView['unreversed'] = [];
    for (const partner of split.partners) {
      const carried = partner.transfers.reduce((s, t) => s + t.amount, 0n);
      if (partner.fromTransfer > carried)
        unreversed.push({
          partner: partner.party,
          transferId: null,
          amount: Number(partner.fromTransfer - carried),
          why: 'netted from a payout',
        });
      for (const t of partner.transfers) {
        try {
          const { reversalId } = await provider.reverseTransfer({
            idempotencyKey: `rev:${r.id}:${t.transferId}`,
            transferId: t.transferId,
            amount: t.amount,
            metadata: { plaza_refund: r.id, plaza_invoice: r.invoice_id },
          });
          reversals.push({
            partner: partner.party,
            transferId: t.transferId,
            reversalId,
            amount: Number(t.amount),
          });
        } catch (err) {
          if (!(err instanceof ProviderRefusal)) throw err;
          unreversed.push({
            partner: partner.party,
            transferId: t.transferId,
            amount: Number(t.amount),
            why: err.message,
          });
        }
      }
    }
    let providerRefund: { refundId: string };
    try {
      providerRefund = await provider.refund({
        idempotencyKey: `refund:${r.id}`,
        chargeId: inv.provider_charge_id,
        amount: BigInt(r.amount),
        metadata: { plaza_refund: r.id, plaza_invoice: r.invoice_id },
      });
    } catch (err) {
      if (!(err instanceof ProviderRefusal)) throw err;
      // Nothing reached the customer: the reserved amount is free again. Reversals already
      // taken stay with the platform and are listed for the operator.
      await db.transaction(async (tx) => {
        await tx.query(
          "UPDATE payments_refunds SET status = 'failed', failure = $2, reversals = $3, completed_at = now() WHERE id = $1 AND status = 'pending'",
          [r.id, err.message, JSON.stringify(reversals)],
        );
        await tx.query('UPDATE payments_invoices SET amount_refunded = amount_refunded - $2 WHERE id = $1', [
          inv.id,
          r.amount,
        ]);
      });
      log.error({ refund: r.id, reversals }, 'payments: the provider refused a refund after its reversals');
      return view(await db.one('SELECT * FROM payments_refunds WHERE id = $1', [r.id]));
    }
    await db.transaction(async (tx) => {
      const locked = await tx.one('SELECT status FROM payments_refunds WHERE id = $1 FOR UPDATE', [r.id]);
      if (locked.status !== 'pending') return;
      await ledger.recordRefund(tx, {
        refundId: r.id,
        invoiceId: r.invoice_id,
        providerRefundId: providerRefund.refundId,
        provider: provider.name,
        amount: BigInt(r.amount),
        currency: r.currency,
      });
      for (const rev of reversals)
        await ledger.recordTransferReversal(tx, {
          refundId: r.id,
          transferId: rev.transferId,
          providerReversalId: rev.reversalId,
          provider: provider.name,
          partnerOrgId: rev.partner,
          amount: BigInt(rev.amount),
          currency: r.currency,
        });
      await tx.query(
        `UPDATE payments_refunds SET status = 'succeeded', provider_refund_id = $2, reversals = $3, unreversed = $4,
           completed_at = now() WHERE id = $1`,
        [r.id, providerRefund.refundId, JSON.stringify(reversals), JSON.stringify(unreversed)],
      );
      await events.emit(tx, inv.account_id, PAYMENT_EVENT_TYPES.refunded, {
        refundId: r.id,
        invoiceId: inv.id,
        subscriptionId: inv.subscription_id,
        appId: inv.app_id,
        kind: inv.kind,
        amount: Number(r.amount),
        currency: r.currency,
      });
    });
    return view(await db.one('SELECT * FROM payments_refunds WHERE id = $1', [r.id]));
  }

  return {
    /**
     * Refunds `amount` (default: what is left) of a paid invoice. The operator may refund any;
     * a developer organization only its own apps' invoices.
     */
    async refund(input: {
      actor: Actor;
      invoiceId: string;
      amount?: number;
      reason?: string | null;
      via: 'operator' | 'developer';
      developerOrgId?: string;
    }): Promise<RefundView> {
      const created = await db.transaction(async (tx) => {
        const inv = await tx.maybeOne('SELECT * FROM payments_invoices WHERE id = $1 FOR UPDATE', [
          input.invoiceId,
        ]);
        if (!inv || (input.via === 'developer' && inv.developer_org_id !== input.developerOrgId))
          throw notFound('invoice');
        if (inv.status !== 'paid')
          throw conflict(`invoice ${inv.id} is ${inv.status}; only paid invoices are refunded`);
        const left = Number(inv.amount) - Number(inv.amount_refunded);
        const amount = input.amount ?? left;
        if (left <= 0) throw conflict(`invoice ${inv.id} is refunded in full already`);
        if (amount > left)
          throw new PlazaError(
            'PLAZA_VALIDATION',
            `body.amount: at most ${left} (minor units) is left to refund`,
            {
              fields: [{ field: 'body.amount', reason: `must be at most ${left}` }],
            },
          );
        await tx.query('UPDATE payments_invoices SET amount_refunded = amount_refunded + $2 WHERE id = $1', [
          inv.id,
          amount,
        ]);
        const row = await tx.one(
          `INSERT INTO payments_refunds (id, invoice_id, account_id, app_id, amount, currency, reason, status, requested_by, requested_via)
           VALUES ($1,$2,$3,$4,$5,$6,$7,'pending',$8,$9) RETURNING *`,
          [
            newId('rfd'),
            inv.id,
            inv.account_id,
            inv.app_id,
            amount,
            inv.currency,
            input.reason ?? null,
            input.actor.userId,
            input.via,
          ],
        );
        await audit.record(tx, {
          organizationId: input.via === 'developer' ? (input.developerOrgId ?? null) : null,
          actor: input.actor,
          action: 'payments.refund_requested',
          targetType: 'invoice',
          targetId: inv.id,
          data: { refundId: row.id, amount, currency: inv.currency, reason: input.reason ?? null },
        });
        return row;
      });
      return process(created.id);
    },

    process,

    /** The refunds job: finishes refunds left pending (a crash or the provider away). */
    async resumePending(olderThanMs = 60_000): Promise<number> {
      const rows = await db.query(
        "SELECT id FROM payments_refunds WHERE status = 'pending' AND created_at < now() - make_interval(secs => $1) ORDER BY created_at LIMIT 100",
        [olderThanMs / 1000],
      );
      for (const { id } of rows) {
        try {
          await process(id);
        } catch (err) {
          log.warn({ err, refund: id }, 'payments: refund still pending');
        }
      }
      return rows.length;
    },

    async listForInvoice(invoiceId: string): Promise<RefundView[]> {
      return (
        await db.query('SELECT * FROM payments_refunds WHERE invoice_id = $1 ORDER BY created_at', [
          invoiceId,
        ])
      ).map(view);
    },

    /**
     * `charge.dispute.created` / `.closed`: fetch the dispute (its state now, whatever the event's
     * age), keep it with the invoice, and post to the ledger each movement not posted yet: opened,
     * then won or lost. A closed dispute seen first posts both; the late `created` then posts nothing.
     *
     * A lost dispute takes back each partner's share. What the partner was already paid is reversed
     * from its transfer on the provider first (`rev:{dispute}:{transfer}`, before the ledger records
     * the loss, so no payout run can net the same debt meanwhile); a reversal the provider refuses
     * (the partner was paid out) leaves that part a receivable netted from the next payouts.
     */
    onDispute: (async (event) => {
      const d = await provider.retrieveDispute(event.objectId);
      const inv = await db.maybeOne('SELECT id FROM payments_invoices WHERE provider_charge_id = $1', [
        d.chargeId,
      ]);
      const closed = d.status === 'won' || d.status === 'lost';
      /** Keeps the dispute, opens it in the ledger once, and closes it once when `close` is given. */
      const record =
        (close?: Pick<RefundView, 'reversals' | 'unreversed'>) =>
        async (tx: Tx): Promise<void> => {
          await tx.query(
            `INSERT INTO payments_disputes (id, invoice_id, provider_charge_id, amount, fee, currency, reason, status, closed_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8, CASE WHEN $9 THEN now() END)
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, amount = EXCLUDED.amount, fee = EXCLUDED.fee,
               closed_at = coalesce(payments_disputes.closed_at, EXCLUDED.closed_at)`,
            [
              d.disputeId,
              inv?.id ?? null,
              d.chargeId,
              d.amount,
              d.fee,
              d.currency,
              d.reason,
              d.status,
              closed,
            ],
          );
          const row = await tx.one('SELECT * FROM payments_disputes WHERE id = $1 FOR UPDATE', [d.disputeId]);
          if (!inv) return;
          const base = {
            disputeId: d.disputeId,
            invoiceId: inv.id,
            provider: provider.name,
            amount: d.amount,
            fee: d.fee,
            currency: d.currency,
          };
          if (!row.ledger_opened) {
            await ledger.recordDispute(tx, { ...base, phase: 'opened' });
            await tx.query('UPDATE payments_disputes SET ledger_opened = true WHERE id = $1', [d.disputeId]);
          }
          if (close && closed && !row.ledger_closed) {
            await ledger.recordDispute(tx, { ...base, phase: d.status as 'won' | 'lost' });
            // The loss made each paid share a receivable; the reversals taken settle it.
            for (const rev of close.reversals)
              await ledger.recordTransferReversal(tx, {
                refundId: d.disputeId,
                transferId: rev.transferId,
                providerReversalId: rev.reversalId,
                provider: provider.name,
                partnerOrgId: rev.partner,
                amount: BigInt(rev.amount),
                currency: d.currency,
              });
            await tx.query(
              'UPDATE payments_disputes SET ledger_closed = true, reversals = $2, unreversed = $3 WHERE id = $1',
              [d.disputeId, JSON.stringify(close.reversals), JSON.stringify(close.unreversed)],
            );
          }
        };
      const close: Pick<RefundView, 'reversals' | 'unreversed'> = { reversals: [], unreversed: [] };
      if (inv && d.status === 'lost') {
        // The ledger knows each partner's share once the dispute is open there (a loss seen first opens it now).
        await db.transaction(record());
        for (const t of await ledger.disputedTransfers(d.disputeId)) {
          try {
            const { reversalId } = await provider.reverseTransfer({
              idempotencyKey: `rev:${d.disputeId}:${t.transferId}`,
              transferId: t.transferId,
              amount: t.amount,
              metadata: { plaza_dispute: d.disputeId, plaza_invoice: inv.id },
            });
            close.reversals.push({
              partner: t.party,
              transferId: t.transferId,
              reversalId,
              amount: Number(t.amount),
            });
          } catch (err) {
            if (!(err instanceof ProviderRefusal)) throw err;
            close.unreversed.push({
              partner: t.party,
              transferId: t.transferId,
              amount: Number(t.amount),
              why: err.message,
            });
          }
        }
      }
      return record(close);
    }) satisfies EventHandler,

    /**
     * Sandbox only: the customer disputes a paid invoice (as a card network would on Stripe), so
     * the dispute flow can be tried with nothing configured. The sandbox raises
     * charge.dispute.created, processed like Stripe's before this answers.
     */
    async simulateDispute(
      invoiceId: string,
      input: { amount?: number; reason?: string },
    ): Promise<DisputeView> {
      const sandbox = sandboxOnly();
      const inv = await db.maybeOne('SELECT * FROM payments_invoices WHERE id = $1', [invoiceId]);
      if (!inv) throw notFound('invoice');
      if (inv.status !== 'paid' || !inv.provider_charge_id)
        throw conflict(`invoice ${inv.id} is ${inv.status}; only a paid invoice can be disputed`);
      let disputeId: string;
      try {
        ({ disputeId } = await sandbox.openDispute(inv.provider_charge_id, input));
      } catch (err) {
        if (!(err instanceof ProviderRefusal)) throw err;
        throw new PlazaError('PLAZA_VALIDATION', `body.amount: ${err.message}`, {
          fields: [{ field: 'body.amount', reason: err.message }],
        });
      }
      return disputeView(await db.one('SELECT * FROM payments_disputes WHERE id = $1', [disputeId]));
    },

    /** Sandbox only: the invoice's open dispute closes, won or lost (charge.dispute.closed). */
    async simulateDisputeOutcome(invoiceId: string, outcome: 'won' | 'lost'): Promise<DisputeView> {
      const sandbox = sandboxOnly();
      const open = await db.maybeOne(
        "SELECT id FROM payments_disputes WHERE invoice_id = $1 AND status NOT IN ('won', 'lost') ORDER BY opened_at DESC LIMIT 1",
        [invoiceId],
      );
      if (!open) throw conflict(`invoice ${invoiceId} has no open dispute`);
      await sandbox.closeDispute(open.id, outcome);
      return disputeView(await db.one('SELECT * FROM payments_disputes WHERE id = $1', [open.id]));
    },

    async disputesOf(invoiceId: string) {
      return db.query('SELECT * FROM payments_disputes WHERE invoice_id = $1 ORDER BY opened_at', [
        invoiceId,
      ]);
    },
  };
}

export type Refunds = ReturnType<typeof createRefunds>;
