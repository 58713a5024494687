import type { Actor, Db, PluginContext } from '../../server/plugin-api/index.ts';
import { conflict, newId } from '../../server/plugin-api/index.ts';
import { cryptoSource, type RandomSource, seededSource } from './noise.ts';
import { type Product, SOURCES, type SourceId } from './products.ts';
import {
  type BinRow,
  cellsHash,
  cohortCells,
  type ExactCell,
  type ReleasedCell,
  releaseCells,
  releaseCost,
} from './release.ts';

/**
 * The plugin's service: capture (core events -> inputs of opted-in accounts),
 * refresh (inputs -> materialized cohort cells), release (cells -> noisy
 * figures, paid for from the period's ε budget) and the opt-in ledger.
 */

type Ctx = PluginContext<{ noiseSeed?: string }>;

export interface Period {
  start: string; // YYYY-MM-DD, UTC
}

/** The UTC start of the period containing `at`, `back` periods earlier. */
export function periodStart(product: Pick<Product, 'period'>, at: Date, back = 0): string {
  const d =
    product.period === 'month'
      ? new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() - back, 1))
      : new Date(
          Date.UTC(
            at.getUTCFullYear(),
            at.getUTCMonth(),
            at.getUTCDate() - ((at.getUTCDay() + 6) % 7) - 7 * back,
          ),
        );
  return d.toISOString().slice(0, 10);
}

export const isPeriodStart = (product: Pick<Product, 'period'>, day: string) => {
  const at = new Date(`${day}T00:00:00Z`);
  return !Number.isNaN(at.getTime()) && periodStart(product, at) === day;
};

/** Who to bill for an answered app query. */
export interface Meter {
  appId: string;
  installationId: string;
  accountId: string;
}

export interface Release {
  id: string;
  product: string;
  period: string;
  epsilonSpent: number;
  epsilonBudget: number;
  epsilonRelease: number;
  refreshedAt: string;
  releasedAt: string;
  cells: ReleasedCell[];
}

export function createService(ctx: Ctx, products: Map<string, Product>) {
  const db: Db = ctx.db;
  const productsOf = (source: SourceId) =>
    [...products.values()].filter((p) => p.source === source).map((p) => p.id);

  /**
   * The noise source of one release. A seed (tests only) makes each product
   * and period's noise reproducible, so two releases of different data can
   * be compared figure by figure; otherwise the OS CSPRNG.
   */
  const rngFor = (product: string, period: string): RandomSource =>
    ctx.config.noiseSeed ? seededSource(`${ctx.config.noiseSeed}:${product}:${period}`) : cryptoSource;

  /**
   * Records one core event for its account, only if the account had opted in
   * to a product of that source when it happened (a delivery that arrives
   * after a later opt-in must not bring earlier activity in).
   */
  async function capture(
    source: SourceId,
    event: { id: string; organizationId: string | null; createdAt: string },
  ) {
    if (!event.organizationId) return;
    await db.query(
      `INSERT INTO data_products_inputs (event_id, organization_id, source, occurred_at)
       SELECT $1, $2, $3, $4
        WHERE EXISTS (SELECT 1 FROM data_products_opt_ins
                       WHERE organization_id = $2 AND product = ANY($5) AND opted_in_at <= $4)
       ON CONFLICT (event_id) DO NOTHING`,
      [event.id, event.organizationId, source, event.createdAt, productsOf(source)],
    );
  }

  /** Recomputes the product's recent periods from the inputs of accounts opted in now. */
  async function refresh(product: Product, now = new Date()) {
    const starts = Array.from({ length: product.periods }, (_, i) => periodStart(product, now, i)).reverse();
    const dim = (d: 'vertical' | 'region') => (product.dimensions.includes(d) ? `m.${d}` : `'*'`);
    const rows = await db.query<BinRow & { period_start: string }>(
      `WITH members AS (
         SELECT o.organization_id, o.opted_in_at, p.vertical, p.region
           FROM data_products_opt_ins o JOIN data_products_profiles p USING (organization_id)
          WHERE o.product = $1
       ),
       periods AS (
         SELECT d AS period_start, d::timestamp AT TIME ZONE 'UTC' AS starts_at FROM unnest($2::date[]) d
       ),
       counts AS (
         SELECT i.organization_id, date_trunc($3, i.occurred_at AT TIME ZONE 'UTC')::date AS period_start,
                count(*) AS n
           FROM data_products_inputs i
          WHERE i.source = $4 AND i.occurred_at >= $5::timestamptz
            AND i.organization_id IN (SELECT organization_id FROM members)
          GROUP BY 1, 2
       ),
       vals AS (
         SELECT pr.period_start, ${dim('vertical')} AS vertical, ${dim('region')} AS region,
                m.organization_id, LEAST(GREATEST(coalesce(c.n, 0), $6::int), $7::int)::int AS v
           FROM periods pr
           JOIN members m ON m.opted_in_at < pr.starts_at + ('1 ' || $3)::interval
           LEFT JOIN counts c ON c.organization_id = m.organization_id AND c.period_start = pr.period_start
       )
       SELECT to_char(period_start, 'YYYY-MM-DD') AS period_start, vertical, region,
              LEAST(((v - $6::int) * $8::int) / ($7::int - $6::int + 1), $8::int - 1) AS bin,
              count(*)::int AS accounts, sum(v)::int AS total, max(v)::int AS top
         FROM vals GROUP BY 1, 2, 3, 4`,
      [
        product.id,
        starts,
        product.period,
        product.source,
        `${starts[0]}T00:00:00Z`,
        product.clamp.min,
        product.clamp.max,
        product.bins,
      ],
    );
    const summary: Array<{ period: string; cells: number; suppressed: number; changed: boolean }> = [];
    await db.transaction(async (tx) => {
      for (const start of starts) {
        const { cells, suppressed } = cohortCells(
          product,
          rows.filter((r) => r.period_start === start),
        );
        const hash = cellsHash(cells);
        const before = await tx.maybeOne<{ cells_hash: string }>(
          'SELECT cells_hash FROM data_products_periods WHERE product = $1 AND period_start = $2',
          [product.id, start],
        );
        await tx.query(
          `INSERT INTO data_products_periods (product, period_start, cells, cells_hash, suppressed, refreshed_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (product, period_start) DO UPDATE
             SET cells = EXCLUDED.cells, cells_hash = EXCLUDED.cells_hash,
                 suppressed = EXCLUDED.suppressed, refreshed_at = EXCLUDED.refreshed_at`,
          [product.id, start, JSON.stringify(cells), hash, suppressed, now],
        );
        summary.push({
          period: start,
          cells: cells.length,
          suppressed,
          changed: before?.cells_hash !== hash,
        });
      }
    });
    // Data minimization: inputs older than every window of their source will never be read again.
    const oldest = [...products.values()]
      .filter((p) => p.source === product.source)
      .map((p) => periodStart(p, now, p.periods - 1))
      .sort()[0];
    await db.query('DELETE FROM data_products_inputs WHERE source = $1 AND occurred_at < $2::timestamptz', [
      product.source,
      `${oldest}T00:00:00Z`,
    ]);
    return { product: product.id, refreshedAt: now.toISOString(), periods: summary };
  }

  /**
   * The noisy figures of a product's period as of its last refresh. The first
   * reader after a refresh that changed the cells pays the release's ε from
   * the period's budget, under a row lock, so concurrent readers make one
   * release and the budget is never overdrawn; later readers get the same
   * figures for free (post-processing). Past the budget: 409.
   */
  async function release(
    product: Product,
    period: string,
    requestedBy: string,
    actor: Actor,
    meter?: Meter,
  ): Promise<Release> {
    const state = await current(product, period, meter);
    if (!state)
      throw ctx.error(
        'PLAZA_DATA_PRODUCTS_NOT_REFRESHED',
        `no refresh of ${product.id} covers the period starting ${period} yet`,
      );
    if (state.id) return releaseOf(product, period, state);
    const cost = releaseCost(product).total;
    await db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO data_products_budgets (product, period_start, budget_milli) VALUES ($1, $2, $3)
         ON CONFLICT DO NOTHING`,
        [product.id, period, product.epsilon.perPeriod],
      );
      const budget = await tx.one<{ spent_milli: number; budget_milli: number }>(
        'SELECT spent_milli, budget_milli FROM data_products_budgets WHERE product = $1 AND period_start = $2 FOR UPDATE',
        [product.id, period],
      );
      // Read again under the lock: a refresh or another reader may have moved on meanwhile.
      const current = await tx.one<{ cells: ExactCell[]; cells_hash: string }>(
        'SELECT cells, cells_hash FROM data_products_periods WHERE product = $1 AND period_start = $2',
        [product.id, period],
      );
      const done = await tx.maybeOne(
        'SELECT 1 FROM data_products_releases WHERE product = $1 AND period_start = $2 AND cells_hash = $3',
        [product.id, period, current.cells_hash],
      );
      if (done) return;
      if (budget.spent_milli + cost > budget.budget_milli)
        throw ctx.error(
          'PLAZA_DP_BUDGET_EXHAUSTED',
          `the privacy budget of ${product.id} for the period starting ${period} is spent (ε ${budget.spent_milli / 1000} of ${budget.budget_milli / 1000}); the data changed since the last release, which cannot be released again this period`,
          {
            extra: {
              epsilonSpent: budget.spent_milli / 1000,
              epsilonBudget: budget.budget_milli / 1000,
              epsilonRelease: cost / 1000,
            },
          },
        );
      const cells = releaseCells(product, current.cells, rngFor(product.id, period));
      const id = newId('dprel');
      await tx.query(
        `INSERT INTO data_products_releases (id, product, period_start, cells_hash, epsilon_milli, cells, requested_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [id, product.id, period, current.cells_hash, cost, JSON.stringify(cells), requestedBy],
      );
      await tx.query(
        'UPDATE data_products_budgets SET spent_milli = spent_milli + $3 WHERE product = $1 AND period_start = $2',
        [product.id, period, cost],
      );
      await ctx.audit.record(tx, {
        organizationId: null,
        actor,
        action: 'data-products.released',
        targetType: 'data_product_release',
        targetId: id,
        data: { product: product.id, period, epsilon: cost / 1000, cells: cells.length, requestedBy },
      });
    });
    const made = await current(product, period, meter);
    // A refresh changed the cells between the release and this read: the caller asks again.
    if (!made?.id) throw conflict(`${product.id} was refreshed while answering; ask again`);
    return releaseOf(product, period, made);
  }

  /**
   * The period's state with the release of its current cells, if any, in one
   * statement: the hot path of every query. With `meter`, the same statement
   * records the app's usage of that release (only when there is one).
   */
  const current = (product: Product, period: string, meter?: Meter) =>
    db
      .query<Record<string, any>>(
        `WITH cur AS (
           SELECT p.cells_hash, p.refreshed_at, r.id, r.cells, r.released_at, b.spent_milli, b.budget_milli
             FROM data_products_periods p
             LEFT JOIN data_products_releases r
               ON r.product = p.product AND r.period_start = p.period_start AND r.cells_hash = p.cells_hash
             LEFT JOIN data_products_budgets b ON b.product = p.product AND b.period_start = p.period_start
            WHERE p.product = $1 AND p.period_start = $2
         ),
         metered AS (
           INSERT INTO data_products_usage
             (id, product, app_id, installation_id, account_id, release_id, amount, currency)
           SELECT $3, $1, $4, $5, $6, cur.id, $7, $8 FROM cur WHERE cur.id IS NOT NULL AND $4::text IS NOT NULL
           RETURNING 1
         )
         SELECT cur.*, (SELECT count(*) FROM metered)::int AS metered FROM cur`,
        [
          product.id,
          period,
          newId('dpuse'),
          meter?.appId ?? null,
          meter?.installationId ?? null,
          meter?.accountId ?? null,
          product.price.amount,
          product.price.currency,
        ],
        'data_products_current',
      )
      .then((rows) => rows[0]);

  function releaseOf(product: Product, period: string, row: Record<string, any>): Release {
    return {
      id: row.id,
      product: product.id,
      period,
      epsilonSpent: row.spent_milli / 1000,
      epsilonBudget: row.budget_milli / 1000,
      epsilonRelease: releaseCost(product).total / 1000,
      refreshedAt: new Date(row.refreshed_at).toISOString(),
      releasedAt: new Date(row.released_at).toISOString(),
      cells: row.cells,
    };
  }

  /** Opts an account in or out. Out deletes its recorded inputs of sources it no longer contributes to. */
  async function setOptIn(orgId: string, product: Product, optedIn: boolean, actor: Actor) {
    await db.transaction(async (tx) => {
      if (optedIn) {
        const inserted = await tx.query(
          `INSERT INTO data_products_opt_ins (product, organization_id) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING 1`,
          [product.id, orgId],
        );
        if (inserted.length)
          await ctx.audit.record(tx, {
            organizationId: orgId,
            actor,
            action: 'data-products.opted_in',
            targetType: 'data_product',
            targetId: product.id,
          });
        return;
      }
      const deleted = await tx.query(
        'DELETE FROM data_products_opt_ins WHERE product = $1 AND organization_id = $2 RETURNING 1',
        [product.id, orgId],
      );
      await tx.query(
        `DELETE FROM data_products_inputs
          WHERE organization_id = $1 AND source = $2
            AND NOT EXISTS (SELECT 1 FROM data_products_opt_ins WHERE organization_id = $1 AND product = ANY($3))`,
        [orgId, product.source, productsOf(product.source)],
      );
      if (deleted.length)
        await ctx.audit.record(tx, {
          organizationId: orgId,
          actor,
          action: 'data-products.opted_out',
          targetType: 'data_product',
          targetId: product.id,
        });
    });
  }

  return { capture, refresh, release, setOptIn, sources: SOURCES };
}

export type DataProductsService = ReturnType<typeof createService>;
