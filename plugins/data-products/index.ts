import { definePlugin, z } from '../../server/plugin-api/index.ts';
import { createCharges } from './charges.ts';
import { loadProducts, type Product, SHIPPED_PRODUCTS, SOURCES, type SourceId, scopeOf } from './products.ts';
import { dataProductRoutes } from './routes.ts';
import { chargeRoutes } from './routes-charges.ts';
import { createService } from './service.ts';

// Read at import: each product adds a scope, and scopes are registered before setup runs.
const PRODUCTS_DIR = process.env.PLAZA_PLUGIN_DATA_PRODUCTS_PRODUCTS_DIR || SHIPPED_PRODUCTS;
const products = new Map<string, Product>(loadProducts(PRODUCTS_DIR).map((p) => [p.id, p]));

export default definePlugin({
  name: 'data-products',
  version: '1.0.0',
  description:
    'Aggregate datasets from the accounts that opt in: k-anonymous cohorts, discrete Laplace noise, a privacy budget per period.',
  config: z.object({
    /** Folder of product definitions (*.json); default: the plugin's products/. */
    productsDir: z.string().optional(),
    /** How often the refresh job recomputes every product. */
    refreshEveryMs: z.coerce
      .number()
      .int()
      .min(60_000)
      .default(24 * 60 * 60 * 1000),
    /**
     * Tests only: derive each release's noise from this seed, so releases can
     * be compared figure by figure. A known seed makes the noise removable.
     */
    noiseSeed: z.string().min(8).optional(),
  }),
  scopes: [...products.values()].map((p) => ({
    name: scopeOf(p.id),
    consentText: `Read the ${p.name} dataset (figures of groups of at least ${p.k} businesses, never one account's); each query costs ${(p.price.amount / 100).toFixed(2)} ${p.price.currency.toUpperCase()}, charged to this account`,
    sensitivity: 'basic' as const,
  })),
  errors: {
    PLAZA_DP_BUDGET_EXHAUSTED: {
      status: 409,
      title: "The data product's privacy budget for the period is spent",
    },
    PLAZA_DATA_PRODUCTS_NOT_REFRESHED: { status: 404, title: 'No refresh covers that period yet' },
    PLAZA_DATA_PRODUCTS_NOT_CONTRIBUTING: {
      status: 403,
      title: 'Benchmarks are for accounts that contribute',
    },
  },
  web: {
    pages: [
      {
        path: 'sharing',
        component: 'SharingPage.vue',
        title: 'Data sharing',
        area: 'org',
        orgKinds: ['account'],
      },
      { path: 'products', component: 'ProductsPage.vue', title: 'Data products', area: 'operator' },
    ],
  },
  setup(ctx) {
    if ((ctx.config.productsDir || SHIPPED_PRODUCTS) !== PRODUCTS_DIR)
      throw new Error(
        'PLAZA_PLUGIN_DATA_PRODUCTS_PRODUCTS_DIR must be set in the environment Plaza starts with (products are read at import)',
      );
    if (ctx.config.noiseSeed) {
      if (process.env.NODE_ENV === 'production')
        throw new Error('PLAZA_PLUGIN_DATA_PRODUCTS_NOISE_SEED is for tests; it makes the noise removable');
      ctx.log.warn('data products: noise is seeded (tests only): releases are not private');
    }
    const service = createService(ctx, products);

    // Subscription order is part of their names: keep it stable.
    for (const source of Object.keys(SOURCES) as SourceId[])
      ctx.events.subscribe([SOURCES[source].event], (event) => service.capture(source, event));

    ctx.jobs.define<{ product?: string } | null>({
      name: 'refresh',
      attempts: 3,
      async handler(data) {
        for (const p of products.values())
          if (!data?.product || data.product === p.id) await service.refresh(p);
      },
    });
    ctx.jobs.repeat('refresh', ctx.config.refreshEveryMs);

    const charges = createCharges(ctx);
    ctx.events.subscribe(['platform_charge.succeeded', 'platform_charge.failed'], async (event) => {
      const p = event.payload as {
        owner?: string;
        reference: string;
        chargeId?: string | null;
        reason?: string;
      };
      if (p.owner && p.owner !== `plugin:${ctx.name}`) return; // another plugin's charge
      if (!p.reference.startsWith('dpchg_')) return;
      await charges.settle(p.reference, {
        ok: event.type === 'platform_charge.succeeded',
        chargeId: p.chargeId,
        failure: p.reason,
      });
    });
    // Usage of closed months is charged once a day.
    ctx.jobs.define({ name: 'charge', attempts: 3, handler: () => charges.run().then(() => undefined) });
    ctx.jobs.repeat('charge', 24 * 60 * 60 * 1000);

    ctx.routes.add(...dataProductRoutes(ctx, service, products), ...chargeRoutes(charges));
  },
});
