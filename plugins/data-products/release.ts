import { createHash } from 'node:crypto';
import { noiseFor, type RandomSource } from './noise.ts';
import { noiseGroups, type Product } from './products.ts';

/**
 * From exact per-account values to a release: the cells that pass k and the
 * dominance rule (exact, kept in the materialized table), then noise on each
 * figure of those cells (what anyone outside the plugin sees). Pure
 * functions, so the privacy rules are tested without a database.
 */

/** One group of the refresh query: accounts of a cell whose clamped value fell in one histogram bin. */
export interface BinRow {
  vertical: string;
  region: string;
  bin: number;
  accounts: number;
  total: number;
  /** The largest single account's clamped value among them. */
  top: number;
}

/** A cohort cell as materialized: exact, never answered as is. */
export interface ExactCell {
  vertical: string;
  region: string;
  contributors: number;
  total: number;
  histogram: number[];
}

export interface ReleasedCell {
  vertical?: string;
  region?: string;
  accounts?: number;
  total?: number;
  mean?: number | null;
  p25?: number | null;
  median?: number | null;
  p75?: number | null;
}

/** Groups bin rows into cells and drops those under k or dominated by one account. */
export function cohortCells(product: Product, rows: BinRow[]): { cells: ExactCell[]; suppressed: number } {
  const byCell = new Map<string, ExactCell & { top: number }>();
  for (const r of rows) {
    const key = `${r.vertical}\u0000${r.region}`;
    let cell = byCell.get(key);
    if (!cell) {
      cell = {
        vertical: r.vertical,
        region: r.region,
        contributors: 0,
        total: 0,
        top: 0,
        histogram: new Array(product.bins).fill(0),
      };
      byCell.set(key, cell);
    }
    cell.contributors += r.accounts;
    cell.total += r.total;
    cell.top = Math.max(cell.top, r.top);
    cell.histogram[r.bin] += r.accounts;
  }
  const cells: ExactCell[] = [];
  let suppressed = 0;
  for (const { top, ...cell } of byCell.values()) {
    const small = cell.contributors < product.k;
    const dominated = cell.total > 0 && top > product.dominance * cell.total;
    if (small || dominated) suppressed++;
    else cells.push(cell);
  }
  cells.sort((a, b) => a.vertical.localeCompare(b.vertical) || a.region.localeCompare(b.region));
  return { cells, suppressed };
}

export const cellsHash = (cells: ExactCell[]) =>
  createHash('sha256').update(JSON.stringify(cells)).digest('hex');

/** ε of one release, in thousandths, as it is split: an equal whole share per measure group. */
export function releaseCost(product: Product): { perGroup: number; total: number } {
  const groups = Object.values(noiseGroups(product)).filter(Boolean).length;
  const perGroup = Math.floor(product.epsilon.perRelease / groups);
  return { perGroup, total: perGroup * groups };
}

/**
 * Noise on every released figure. Each account is in one cell per period, so
 * cells compose in parallel and one release costs `releaseCost(product).total`:
 * the contributor count (sensitivity 1), the sum of clamped values
 * (sensitivity: the clamp bound) and the histogram the quartiles are read
 * from (sensitivity 1: an account adds one to one bin) each get an equal
 * share. Mean and quartiles are computed from noisy figures only.
 */
export function releaseCells(product: Product, cells: ExactCell[], rng: RandomSource): ReleasedCell[] {
  const groups = noiseGroups(product);
  const { perGroup } = releaseCost(product);
  const bound = Math.max(Math.abs(product.clamp.min), Math.abs(product.clamp.max));
  const want = new Set(product.measures);
  return cells.map((cell) => {
    const out: ReleasedCell = {};
    if (product.dimensions.includes('vertical')) out.vertical = cell.vertical;
    if (product.dimensions.includes('region')) out.region = cell.region;
    // Counts and sums are released as drawn (unbiased, so they may fall below 0 in a small
    // cell); the histogram is clamped at 0 before the quartiles are read from it.
    const accounts = groups.accounts ? cell.contributors + noiseFor(1, perGroup, rng) : 0;
    const total = groups.total ? cell.total + noiseFor(bound, perGroup, rng) : 0;
    const histogram = groups.histogram
      ? cell.histogram.map((n) => Math.max(0, n + noiseFor(1, perGroup, rng)))
      : [];
    if (want.has('accounts')) out.accounts = accounts;
    if (want.has('total')) out.total = total;
    if (want.has('mean')) out.mean = accounts > 0 ? round(total / accounts, 2) : null;
    if (want.has('p25')) out.p25 = percentile(product, histogram, 0.25);
    if (want.has('median')) out.median = percentile(product, histogram, 0.5);
    if (want.has('p75')) out.p75 = percentile(product, histogram, 0.75);
    return out;
  });
}

const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The bin of a clamped value: bins split [min, max] into equal widths. */
export const binOf = (product: Product, value: number) =>
  Math.min(
    Math.floor(((value - product.clamp.min) * product.bins) / (product.clamp.max - product.clamp.min + 1)),
    product.bins - 1,
  );

/** The q-quantile of a (noisy) histogram, interpolated within its bin; null when it is empty. */
export function percentile(product: Product, histogram: number[], q: number): number | null {
  const n = histogram.reduce((a, b) => a + b, 0);
  if (n === 0) return null;
  const width = (product.clamp.max - product.clamp.min + 1) / product.bins;
  const target = q * n;
  let seen = 0;
  for (let i = 0; i < histogram.length; i++) {
    if (histogram[i] > 0 && seen + histogram[i] >= target) {
      const within = (target - seen) / histogram[i];
      return round(Math.min(product.clamp.min + (i + within) * width, product.clamp.max), 1);
    }
    seen += histogram[i];
  }
  return product.clamp.max;
}
