import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from '../../server/plugin-api/index.ts';

/**
 * Data product definitions: declarative files the operator reviews and ships
 * (`products/*.json` in this folder, or the folder named by
 * PLAZA_PLUGIN_DATA_PRODUCTS_PRODUCTS_DIR). They are read when the plugin is
 * imported, because each product adds a scope (`data:<id>:read`) to the scope
 * catalog and the catalog is fixed at boot.
 */

/** What an account declares about itself to be put in a cohort. */
export const VERTICALS = [
  'dental-clinic',
  'hair-salon',
  'restaurant',
  'gym',
  'retail',
  'golf-course',
  'other',
] as const;
export const REGIONS = [
  'north-america',
  'latin-america',
  'europe',
  'middle-east-africa',
  'asia-pacific',
] as const;

/**
 * Sources the plugin records from core events, per account and period: the
 * number of such events. Only accounts opted in to a product of that source
 * are recorded at all.
 */
export const SOURCES = {
  'contacts.created': { event: 'contact.created', description: 'contacts created' },
  'apps.installed': { event: 'app.installed', description: 'apps installed' },
} as const;
export type SourceId = keyof typeof SOURCES;

export const MEASURES = ['accounts', 'total', 'mean', 'p25', 'median', 'p75'] as const;
export type Measure = (typeof MEASURES)[number];

/** ε in thousandths: 0.25 -> 250. Finer values are refused, so the budget adds up exactly. */
const Epsilon = z
  .number()
  .positive()
  .max(10)
  .refine((v) => Number.isInteger(Math.round(v * 1000)) && Math.abs(v * 1000 - Math.round(v * 1000)) < 1e-9, {
    message: 'at most three decimals',
  })
  .transform((v) => Math.round(v * 1000));

export const ProductDefinition = z
  .object({
    id: z
      .string()
      .regex(/^[a-z][a-z0-9_]{1,39}$/, { message: 'lowercase letters, digits and _ (it names the scope)' }),
    name: z.string().min(1).max(80),
    description: z.string().min(1).max(500),
    source: z.enum(Object.keys(SOURCES) as [SourceId, ...SourceId[]]),
    period: z.enum(['week', 'month']),
    /** How many recent periods (the current one included) a refresh materializes. */
    periods: z.number().int().min(1).max(52).default(4),
    /** Cohort dimensions: attributes of the account, so one account falls in exactly one cell per period. */
    dimensions: z.array(z.enum(['vertical', 'region'])).min(1),
    measures: z.array(z.enum(MEASURES)).min(1),
    /** Minimum distinct contributing accounts in a cell; the seeds promise 50, never below 10. */
    k: z.number().int().min(10).default(50),
    /** A cell where one account's clamped value is more than this share of the cell's total is suppressed. */
    dominance: z.number().gt(0).max(1).default(0.5),
    /** Each account's value in a period is clamped to these bounds: it bounds what one account can move. */
    clamp: z.object({ min: z.number().int().min(0), max: z.number().int().min(1).max(1_000_000) }),
    /** Histogram bins the percentiles are read from. */
    bins: z.number().int().min(2).max(100).default(20),
    epsilon: z.object({ perRelease: Epsilon, perPeriod: Epsilon }),
    /** What an app pays per answered query, in minor units. */
    price: z.object({
      amount: z.number().int().min(0),
      currency: z
        .string()
        .regex(/^[A-Za-z]{3}$/, { message: 'an ISO 4217 code like USD' })
        .transform((c) => c.toUpperCase()),
    }),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (p.clamp.max <= p.clamp.min)
      ctx.addIssue({ code: 'custom', path: ['clamp', 'max'], message: 'must be above min' });
    if (p.epsilon.perRelease > p.epsilon.perPeriod)
      ctx.addIssue({ code: 'custom', path: ['epsilon', 'perRelease'], message: 'must not exceed perPeriod' });
    if (new Set(p.dimensions).size !== p.dimensions.length)
      ctx.addIssue({ code: 'custom', path: ['dimensions'], message: 'each dimension once' });
  });

export type Product = z.output<typeof ProductDefinition>;

/** The default folder: the shipped products beside this file. */
export const SHIPPED_PRODUCTS = path.join(path.dirname(new URL(import.meta.url).pathname), 'products');

/** Reads and validates every `*.json` of a folder; one bad file throws, naming the file and field. */
export function loadProducts(dir: string): Product[] {
  const products: Product[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const parsed = ProductDefinition.safeParse(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
    if (!parsed.success)
      throw new Error(
        `data product ${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    if (products.some((p) => p.id === parsed.data.id))
      throw new Error(`data product ${file}: id "${parsed.data.id}" is taken`);
    products.push(parsed.data);
  }
  return products;
}

export const scopeOf = (product: string) => `data:${product}:read`;

/** Noise is split evenly between the measure groups a product releases. */
export function noiseGroups(p: Product) {
  const m = new Set(p.measures);
  return {
    accounts: m.has('accounts') || m.has('mean'),
    total: m.has('total') || m.has('mean'),
    histogram: m.has('p25') || m.has('median') || m.has('p75'),
  };
}
