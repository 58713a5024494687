import {
  type AnyRoute,
  defineRoute,
  invalid,
  notFound,
  PlazaError,
  type PluginContext,
  Timestamp,
  z,
} from '../../server/plugin-api/index.ts';
import { MEASURES, type Product, REGIONS, SOURCES, scopeOf, VERTICALS } from './products.ts';
import type { DataProductsService } from './service.ts';
import { isPeriodStart, periodStart, type Release } from './service.ts';

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'a date like 2026-11-30' });

const Cell = z
  .object({
    vertical: z.enum(VERTICALS).optional(),
    region: z.enum(REGIONS).optional(),
    accounts: z.number().int().optional(),
    total: z.number().int().optional(),
    mean: z.number().nullable().optional(),
    p25: z.number().nullable().optional(),
    median: z.number().nullable().optional(),
    p75: z.number().nullable().optional(),
  })
  .meta({ id: 'DataProductCell' });

const Answer = z
  .object({
    product: z.string(),
    period: Day,
    /** Minimum contributing accounts per cell; smaller cells are left out. */
    k: z.number().int(),
    epsilon: z.object({
      /** ε of this period's budget spent so far (all releases). */
      spent: z.number(),
      budget: z.number(),
      /** ε one release of this period costs. */
      release: z.number(),
    }),
    refreshedAt: Timestamp,
    releasedAt: Timestamp,
    cells: z.array(Cell),
  })
  .meta({ id: 'DataProductAnswer' });

const Definition = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string(),
    source: z.string(),
    period: z.enum(['week', 'month']),
    periods: z.number().int(),
    dimensions: z.array(z.enum(['vertical', 'region'])),
    measures: z.array(z.enum(MEASURES)),
    k: z.number().int(),
    dominance: z.number(),
    clamp: z.object({ min: z.number().int(), max: z.number().int() }),
    epsilon: z.object({ perRelease: z.number(), perPeriod: z.number() }),
    price: z.object({ amount: z.number().int(), currency: z.string() }),
    scope: z.string(),
  })
  .meta({ id: 'DataProductDefinition' });

const definition = (p: Product) => ({
  ...p,
  epsilon: { perRelease: p.epsilon.perRelease / 1000, perPeriod: p.epsilon.perPeriod / 1000 },
  scope: scopeOf(p.id),
});

const answer = (p: Product, r: Release) => ({
  product: p.id,
  period: r.period,
  k: p.k,
  epsilon: { spent: r.epsilonSpent, budget: r.epsilonBudget, release: r.epsilonRelease },
  refreshedAt: r.refreshedAt,
  releasedAt: r.releasedAt,
  cells: r.cells as z.input<typeof Cell>[],
});

const ProductParam = z.object({ product: z.string().max(40) });
const OrgProductParams = z.object({ orgId: z.string(), product: z.string().max(40) });

export function dataProductRoutes(
  ctx: PluginContext<any, any>,
  service: DataProductsService,
  products: Map<string, Product>,
): AnyRoute[] {
  const product = (id: string) => {
    const p = products.get(id);
    if (!p) throw notFound('data product');
    return p;
  };
  /** The period asked for, or the last complete one (stable, so it is released once). */
  const periodOf = (p: Product, asked: string | undefined) => {
    if (asked === undefined) return periodStart(p, new Date(), 1);
    if (!isPeriodStart(p, asked))
      throw invalid(
        'query.period',
        p.period === 'week'
          ? 'must be a Monday (weeks start on Monday, UTC)'
          : 'must be the first day of a month',
      );
    return asked;
  };

  const profileOf = (orgId: string) =>
    ctx.db.maybeOne<{ vertical: string; region: string }>(
      'SELECT vertical, region FROM data_products_profiles WHERE organization_id = $1',
      [orgId],
    );

  const Sharing = z
    .object({
      profile: z.object({ vertical: z.enum(VERTICALS), region: z.enum(REGIONS) }).nullable(),
      /** What the profile may say (the settings page's choices). */
      choices: z.object({ verticals: z.array(z.enum(VERTICALS)), regions: z.array(z.enum(REGIONS)) }),
      products: z.array(
        z.object({
          id: z.string(),
          name: z.string(),
          description: z.string(),
          shares: z.string(),
          period: z.enum(['week', 'month']),
          k: z.number().int(),
          optedIn: z.boolean(),
          optedInAt: Timestamp.nullable(),
        }),
      ),
    })
    .meta({ id: 'DataProductsSharing' });

  async function sharing(orgId: string) {
    const profile = await profileOf(orgId);
    const rows = await ctx.db.query<{ product: string; opted_in_at: Date }>(
      'SELECT product, opted_in_at FROM data_products_opt_ins WHERE organization_id = $1',
      [orgId],
    );
    const optIns = new Map(rows.map((r) => [r.product, r.opted_in_at]));
    return {
      profile: (profile ?? null) as z.input<typeof Sharing>['profile'],
      choices: { verticals: [...VERTICALS], regions: [...REGIONS] },
      products: [...products.values()].map((p) => ({
        id: p.id,
        name: p.name,
        description: p.description,
        shares: `How many ${SOURCES[p.source].description} per ${p.period}, counted with at least ${p.k} other businesses`,
        period: p.period,
        k: p.k,
        optedIn: optIns.has(p.id),
        optedInAt: optIns.get(p.id)?.toISOString() ?? null,
      })),
    };
  }

  return [
    defineRoute({
      method: 'get',
      path: '/:product/query',
      summary: 'Query a data product',
      tag: 'Data products',
      access: { kind: 'app', scope: null },
      params: ProductParam,
      query: z.object({
        period: Day.optional(),
        vertical: z.enum(VERTICALS).optional(),
        region: z.enum(REGIONS).optional(),
      }),
      response: Answer,
      handler: async ({ params, query, app, actor }) => {
        const p = product(params.product);
        if (!app.app.scopes.includes(scopeOf(p.id)))
          throw new PlazaError(
            'PLAZA_SCOPE_MISSING',
            `this needs the scope ${scopeOf(p.id)}, granted at install`,
          );
        for (const d of ['vertical', 'region'] as const)
          if (query[d] && !p.dimensions.includes(d))
            throw invalid(`query.${d}`, `${p.id} has no ${d} dimension (it has ${p.dimensions.join(', ')})`);
        // The answer is metered in the statement that reads it: no answer without its usage row.
        const r = await service.release(p, periodOf(p, query.period), app.app.appId, actor, {
          appId: app.app.appId,
          installationId: app.app.installationId,
          accountId: app.org.id,
        });
        const out = answer(p, r);
        out.cells = out.cells.filter(
          (c) =>
            (!query.vertical || c.vertical === query.vertical) &&
            (!query.region || c.region === query.region),
        );
        return out;
      },
    }),
    defineRoute({
      method: 'get',
      path: '/organizations/:orgId/sharing',
      summary: 'See data sharing choices',
      tag: 'Data products',
      access: { kind: 'org', orgKinds: ['account'] },
      params: z.object({ orgId: z.string() }),
      response: Sharing,
      handler: async ({ org }) => sharing(org.org.id),
    }),
    defineRoute({
      method: 'put',
      path: '/organizations/:orgId/sharing/profile',
      summary: 'Set the cohort an account is counted in',
      tag: 'Data products',
      access: { kind: 'org', orgKinds: ['account'], minRole: 'admin' },
      params: z.object({ orgId: z.string() }),
      body: z.object({ vertical: z.enum(VERTICALS), region: z.enum(REGIONS) }),
      response: Sharing,
      handler: async ({ org, body, actor }) => {
        await ctx.db.transaction(async (tx) => {
          await tx.query(
            `INSERT INTO data_products_profiles (organization_id, vertical, region) VALUES ($1, $2, $3)
             ON CONFLICT (organization_id) DO UPDATE SET vertical = $2, region = $3, updated_at = now()`,
            [org.org.id, body.vertical, body.region],
          );
          await ctx.audit.record(tx, {
            organizationId: org.org.id,
            actor,
            action: 'data-products.profile_set',
            data: { vertical: body.vertical, region: body.region },
          });
        });
        return sharing(org.org.id);
      },
    }),
    defineRoute({
      method: 'put',
      path: '/organizations/:orgId/sharing/:product',
      summary: 'Opt in or out of a data product',
      tag: 'Data products',
      access: { kind: 'org', orgKinds: ['account'], minRole: 'admin' },
      params: OrgProductParams,
      body: z.object({ optedIn: z.boolean() }),
      response: Sharing,
      handler: async ({ org, params, body, actor }) => {
        const p = product(params.product);
        if (body.optedIn && !(await profileOf(org.org.id)))
          throw invalid('body.optedIn', 'set the vertical and region the account is counted in first');
        await service.setOptIn(org.org.id, p, body.optedIn, actor);
        return sharing(org.org.id);
      },
    }),
    defineRoute({
      method: 'get',
      path: '/organizations/:orgId/benchmarks/:product',
      summary: "See benchmarks of the account's own vertical",
      tag: 'Data products',
      access: { kind: 'org', orgKinds: ['account'] },
      params: OrgProductParams,
      query: z.object({ period: Day.optional() }),
      response: z
        .object({
          answer: Answer,
          vertical: z.enum(VERTICALS),
          /** The account's own figure for the period (its own data, exact). */
          yours: z.number().int(),
        })
        .meta({ id: 'DataProductBenchmarks' }),
      handler: async ({ org, params, query, actor }) => {
        const p = product(params.product);
        const [profile, optedIn] = await Promise.all([
          profileOf(org.org.id),
          ctx.db.maybeOne('SELECT 1 FROM data_products_opt_ins WHERE product = $1 AND organization_id = $2', [
            p.id,
            org.org.id,
          ]),
        ]);
        if (!profile || !optedIn)
          throw ctx.error(
            'PLAZA_DATA_PRODUCTS_NOT_CONTRIBUTING',
            `benchmarks of ${p.id} are for accounts that contribute to it: opt in on the data sharing page`,
          );
        const period = periodOf(p, query.period);
        const r = await service.release(p, period, org.org.id, actor);
        const out = answer(p, r);
        out.cells = out.cells.filter(
          (c) => !p.dimensions.includes('vertical') || c.vertical === profile.vertical,
        );
        const unit = p.period === 'week' ? '1 week' : '1 month';
        const own = await ctx.db.one<{ n: number }>(
          `SELECT count(*)::int AS n FROM data_products_inputs
            WHERE organization_id = $1 AND source = $2
              AND occurred_at >= $3::timestamptz AND occurred_at < $3::timestamptz + $4::interval`,
          [org.org.id, p.source, `${period}T00:00:00Z`, unit],
        );
        return { answer: out, vertical: profile.vertical as (typeof VERTICALS)[number], yours: own.n };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/products',
      summary: 'List data products',
      tag: 'Data products',
      access: { kind: 'platform', roles: ['admin'] },
      response: z.object({ data: z.array(Definition) }).meta({ id: 'DataProductList' }),
      handler: async () => ({ data: [...products.values()].map(definition) }),
    }),
    defineRoute({
      method: 'get',
      path: '/products/:product/budget',
      summary: 'See the privacy budget ledger of a data product',
      tag: 'Data products',
      access: { kind: 'platform', roles: ['admin'] },
      params: ProductParam,
      response: z
        .object({
          product: Definition,
          contributors: z.number().int(),
          periods: z.array(
            z.object({
              period: Day,
              refreshedAt: Timestamp,
              cells: z.number().int(),
              suppressed: z.number().int(),
              epsilonSpent: z.number(),
              epsilonBudget: z.number(),
              releases: z.array(
                z.object({
                  id: z.string(),
                  epsilon: z.number(),
                  cells: z.number().int(),
                  releasedAt: Timestamp,
                  requestedBy: z.string(),
                }),
              ),
            }),
          ),
        })
        .meta({ id: 'DataProductBudget' }),
      handler: async ({ params }) => {
        const p = product(params.product);
        const [periods, releases, contributors] = await Promise.all([
          ctx.db.query<Record<string, any>>(
            `SELECT to_char(p.period_start, 'YYYY-MM-DD') AS period, p.refreshed_at, jsonb_array_length(p.cells) AS cells,
                    p.suppressed, coalesce(b.spent_milli, 0) AS spent
               FROM data_products_periods p
               LEFT JOIN data_products_budgets b USING (product, period_start)
              WHERE p.product = $1 ORDER BY p.period_start DESC`,
            [p.id],
          ),
          ctx.db.query<Record<string, any>>(
            `SELECT id, to_char(period_start, 'YYYY-MM-DD') AS period, epsilon_milli, jsonb_array_length(cells) AS cells,
                    released_at, requested_by
               FROM data_products_releases WHERE product = $1 ORDER BY released_at DESC`,
            [p.id],
          ),
          ctx.db.one<{ n: number }>(
            'SELECT count(*)::int AS n FROM data_products_opt_ins WHERE product = $1',
            [p.id],
          ),
        ]);
        return {
          product: definition(p),
          contributors: contributors.n,
          periods: periods.map((row) => ({
            period: row.period,
            refreshedAt: new Date(row.refreshed_at).toISOString(),
            cells: row.cells,
            suppressed: row.suppressed,
            epsilonSpent: row.spent / 1000,
            epsilonBudget: p.epsilon.perPeriod / 1000,
            releases: releases
              .filter((r) => r.period === row.period)
              .map((r) => ({
                id: r.id,
                epsilon: r.epsilon_milli / 1000,
                cells: r.cells,
                releasedAt: new Date(r.released_at).toISOString(),
                requestedBy: r.requested_by,
              })),
          })),
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/products/:product/refresh',
      summary: 'Refresh a data product now',
      tag: 'Data products',
      access: { kind: 'platform', roles: ['admin'] },
      params: ProductParam,
      response: z
        .object({
          product: z.string(),
          refreshedAt: Timestamp,
          periods: z.array(
            z.object({
              period: Day,
              cells: z.number().int(),
              suppressed: z.number().int(),
              changed: z.boolean(),
            }),
          ),
        })
        .meta({ id: 'DataProductRefresh' }),
      handler: async ({ params }) => service.refresh(product(params.product)),
    }),
    defineRoute({
      method: 'get',
      path: '/products/:product/usage',
      summary: 'See what apps owe for a data product',
      tag: 'Data products',
      access: { kind: 'platform', roles: ['admin'] },
      params: ProductParam,
      response: z
        .object({
          data: z.array(
            z.object({
              appId: z.string(),
              queries: z.number().int(),
              amount: z.number().int(),
              currency: z.string(),
            }),
          ),
        })
        .meta({ id: 'DataProductUsage' }),
      handler: async ({ params }) => {
        const p = product(params.product);
        const rows = await ctx.db.query<Record<string, any>>(
          `SELECT app_id, count(*)::int AS queries, sum(amount)::bigint AS amount, currency
             FROM data_products_usage WHERE product = $1 GROUP BY app_id, currency ORDER BY app_id`,
          [p.id],
        );
        return {
          data: rows.map((r) => ({
            appId: r.app_id,
            queries: r.queries,
            amount: Number(r.amount),
            currency: r.currency,
          })),
        };
      },
    }),
  ];
}
