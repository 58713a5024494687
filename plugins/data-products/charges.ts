import type { PluginContext } from '../../server/plugin-api/index.ts';
import { newId, SYSTEM_ACTOR } from '../../server/plugin-api/index.ts';

/**
 * Selling: each answered app query is a usage row of the account the app is
 * installed in, at the product's price (its consent text says so). A run
 * gathers an account's unbilled rows into one charge per currency and
 * charges the account's saved card through the platform's payments, which
 * record a success in the ledger; the outcome also arrives as
 * `platform_charge.*` events (at least once), handled idempotently.
 */
export interface Charge {
  id: string;
  organizationId: string;
  currency: string;
  amount: number;
  queries: number;
  status: 'open' | 'succeeded' | 'failed';
  failure: string | null;
  createdAt: string;
  settledAt: string | null;
}

const toCharge = (r: Record<string, any>): Charge => ({
  id: r.id,
  organizationId: r.organization_id,
  currency: r.currency,
  amount: Number(r.amount),
  queries: r.queries,
  status: r.status,
  failure: r.failure,
  createdAt: new Date(r.created_at).toISOString(),
  settledAt: r.settled_at ? new Date(r.settled_at).toISOString() : null,
});

export function createCharges(ctx: PluginContext<any, any>) {
  const { db } = ctx;

  /** Records an outcome once; a failure releases the charge's usage to the next run. */
  async function settle(id: string, outcome: { ok: boolean; chargeId?: string | null; failure?: string }) {
    await db.transaction(async (tx) => {
      const row = await tx.maybeOne<Record<string, any>>(
        `UPDATE data_products_charges SET status = $2, provider_charge_id = $3, failure = $4, settled_at = now()
          WHERE id = $1 AND status = 'open' RETURNING *`,
        [
          id,
          outcome.ok ? 'succeeded' : 'failed',
          outcome.chargeId ?? null,
          outcome.ok ? null : (outcome.failure ?? 'declined'),
        ],
      );
      if (!row) return; // settled already (the call's answer and the event both arrive)
      if (!outcome.ok)
        await tx.query('UPDATE data_products_usage SET charge_id = NULL WHERE charge_id = $1', [id]);
      await ctx.audit.record(tx, {
        organizationId: row.organization_id,
        actor: SYSTEM_ACTOR,
        action: outcome.ok ? 'data-products.charged' : 'data-products.charge_failed',
        targetType: 'data_products_charge',
        targetId: id,
        data: {
          amount: Number(row.amount),
          currency: row.currency,
          queries: row.queries,
          failure: row.failure,
        },
      });
    });
  }

  /** Charges every account's usage recorded before `until` (default: the start of this month, UTC). */
  async function run(until?: Date): Promise<Charge[]> {
    const now = new Date();
    const cutoff = until ?? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const groups = await db.query<{ account_id: string; currency: string }>(
      `SELECT DISTINCT account_id, currency FROM data_products_usage
        WHERE charge_id IS NULL AND created_at < $1 AND amount > 0`,
      [cutoff],
    );
    const made: Charge[] = [];
    // Charges a run opened but never settled (its process died, the provider was unreachable):
    // asked again with the same key, so the provider never charges twice.
    const stuck = await db.query<{ id: string }>(
      "SELECT id FROM data_products_charges WHERE status = 'open' AND created_at < now() - interval '5 minutes'",
    );
    for (const { id } of stuck) made.push(...(await collect(id)));
    for (const g of groups) {
      const id = newId('dpchg');
      // The UPDATE claims the rows, so a concurrent run cannot put them in a second charge.
      const charge = await db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO data_products_charges (id, organization_id, currency, amount, queries) VALUES ($1, $2, $3, 0, 0)`,
          [id, g.account_id, g.currency],
        );
        const claimed = await tx.one<{ amount: string | null; queries: number }>(
          `WITH claimed AS (
             UPDATE data_products_usage SET charge_id = $1
              WHERE account_id = $2 AND currency = $3 AND charge_id IS NULL AND created_at < $4 AND amount > 0
              RETURNING amount)
           SELECT sum(amount) AS amount, count(*)::int AS queries FROM claimed`,
          [id, g.account_id, g.currency, cutoff],
        );
        if (!claimed.queries) {
          await tx.query('DELETE FROM data_products_charges WHERE id = $1', [id]);
          return undefined;
        }
        return tx.one<Record<string, any>>(
          'UPDATE data_products_charges SET amount = $2, queries = $3 WHERE id = $1 RETURNING *',
          [id, claimed.amount, claimed.queries],
        );
      });
      if (charge) made.push(...(await collect(id)));
    }
    return made;
  }

  /** Asks the platform's payments to charge one open charge; an error leaves it open for the next run. */
  async function collect(id: string): Promise<Charge[]> {
    const charge = await db.one<Record<string, any>>('SELECT * FROM data_products_charges WHERE id = $1', [
      id,
    ]);
    try {
      const outcome = await ctx.payments.chargeSavedMethod({
        organizationId: charge.organization_id,
        amount: BigInt(charge.amount),
        currency: charge.currency,
        description: `Data products: ${charge.queries} app ${charge.queries === 1 ? 'query' : 'queries'}`,
        idempotencyKey: id,
      });
      await settle(id, {
        ok: outcome.status === 'succeeded',
        chargeId: outcome.chargeId,
        failure: outcome.failureReason,
      });
    } catch (err) {
      ctx.log.error({ err, charge: id }, 'data products: charging failed; the next run asks again');
    }
    return [toCharge(await db.one('SELECT * FROM data_products_charges WHERE id = $1', [id]))];
  }

  async function list(organizationId?: string) {
    const rows = await db.query(
      `SELECT * FROM data_products_charges WHERE ($1::text IS NULL OR organization_id = $1)
        ORDER BY created_at DESC, id DESC LIMIT 100`,
      [organizationId ?? null],
    );
    return rows.map(toCharge);
  }

  /** What an account has used and not been charged for yet, per currency. */
  const unbilled = (organizationId: string) =>
    db
      .query<{ currency: string; amount: string; queries: number }>(
        `SELECT currency, sum(amount) AS amount, count(*)::int AS queries FROM data_products_usage
          WHERE account_id = $1 AND charge_id IS NULL GROUP BY currency ORDER BY currency`,
        [organizationId],
      )
      .then((rows) =>
        rows.map((r) => ({ currency: r.currency, amount: Number(r.amount), queries: r.queries })),
      );

  return { run, settle, list, unbilled, toCharge };
}

export type DataProductCharges = ReturnType<typeof createCharges>;
