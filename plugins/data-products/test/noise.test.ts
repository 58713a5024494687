import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  cryptoSource,
  discreteLaplaceVariance,
  noiseFor,
  type RandomSource,
  seededSource,
} from '../noise.ts';
import { ProductDefinition } from '../products.ts';
import { cohortCells, type ExactCell, releaseCells, releaseCost } from '../release.ts';

/**
 * The privacy arithmetic without a database: the discrete Laplace sampler
 * against its theoretical distribution (a fixed seed makes every check
 * deterministic, so a wrong sampler fails it every time instead of sometimes),
 * k and dominance suppression, and what noise does to a differencing attack.
 */
const N = 100_000;

function stats(draw: () => number, n = N) {
  let sum = 0;
  let sumSq = 0;
  let zeros = 0;
  let positive = 0;
  for (let i = 0; i < n; i++) {
    const x = draw();
    sum += x;
    sumSq += x * x;
    if (x === 0) zeros++;
    if (x > 0) positive++;
  }
  const mean = sum / n;
  return { mean, variance: sumSq / n - mean * mean, zeroShare: zeros / n, positiveShare: positive / n };
}

const within = (actual: number, expected: number, share: number) =>
  Math.abs(actual - expected) <= share * expected;

describe('discrete Laplace noise', () => {
  afterEach(() => vi.restoreAllMocks());

  for (const [sensitivity, epsilonMilli] of [
    [1, 500],
    [10, 1000],
    [500, 167],
  ] as const) {
    it(`matches its distribution over ${N.toLocaleString('en')} draws (Δ=${sensitivity}, ε=${epsilonMilli / 1000})`, () => {
      const rng = seededSource(`variance-${sensitivity}-${epsilonMilli}`);
      const s = stats(() => noiseFor(sensitivity, epsilonMilli, rng));
      const variance = discreteLaplaceVariance(sensitivity, epsilonMilli);
      const p = Math.exp(-epsilonMilli / 1000 / sensitivity);
      // The bar: sample variance within 5% of 2p/(1-p)^2.
      expect(within(s.variance, variance, 0.05)).toBe(true);
      // Centred (5 standard errors) and symmetric, and 0 as often as (1-p)/(1+p) says.
      expect(Math.abs(s.mean)).toBeLessThan(5 * Math.sqrt(variance / N));
      expect(Math.abs(s.positiveShare - (1 - s.zeroShare) / 2)).toBeLessThan(0.01);
      expect(Math.abs(s.zeroShare - (1 - p) / (1 + p))).toBeLessThan(0.01);
    });
  }

  it('the variance check catches a sampler of the wrong scale (noise for twice the ε)', () => {
    const rng = seededSource('wrong-scale');
    const wrong = stats(() => noiseFor(10, 2000, rng));
    expect(within(wrong.variance, discreteLaplaceVariance(10, 1000), 0.05)).toBe(false);
  });

  it('never calls Math.random: only integer draws from the source', () => {
    vi.spyOn(Math, 'random').mockImplementation(() => {
      throw new Error('Math.random used');
    });
    let draws = 0;
    const counting: RandomSource = {
      below: (n) => {
        draws++;
        return cryptoSource.below(n);
      },
    };
    for (let i = 0; i < 1000; i++) expect(Number.isInteger(noiseFor(100, 250, counting))).toBe(true);
    expect(draws).toBeGreaterThan(1000);
  });

  it('a seeded source repeats itself and stays within range', () => {
    const a = seededSource('same');
    const b = seededSource('same');
    const xs = Array.from({ length: 50 }, () => a.below(7));
    expect(Array.from({ length: 50 }, () => b.below(7))).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 7)).toBe(true);
    expect(new Set(xs).size).toBe(7);
  });
});

const product = (over: Record<string, unknown> = {}) =>
  ProductDefinition.parse({
    id: 'unit_product',
    name: 'Unit',
    description: 'unit test product',
    source: 'contacts.created',
    period: 'week',
    dimensions: ['vertical'],
    measures: ['accounts', 'total', 'mean', 'p25', 'median', 'p75'],
    k: 10,
    clamp: { min: 0, max: 100 },
    bins: 10,
    epsilon: { perRelease: 0.3, perPeriod: 1 },
    price: { amount: 1, currency: 'usd' },
    ...over,
  });

/** Bin rows of one cell: `values` are the accounts' clamped values. */
const rowsOf = (p: ReturnType<typeof product>, vertical: string, values: number[]) =>
  values.map((v) => ({
    vertical,
    region: '*',
    bin: Math.min(Math.floor((v * p.bins) / (p.clamp.max + 1)), p.bins - 1),
    accounts: 1,
    total: v,
    top: v,
  }));

describe('cohort cells', () => {
  it('k: a cell of 9 contributing accounts is suppressed, 10 is kept', () => {
    const p = product();
    const nine = cohortCells(p, rowsOf(p, 'gym', [5, 5, 5, 5, 5, 5, 5, 5, 5]));
    expect(nine).toEqual({ cells: [], suppressed: 1 });
    const ten = cohortCells(p, rowsOf(p, 'gym', [5, 5, 5, 5, 5, 5, 5, 5, 5, 5]));
    expect(ten.suppressed).toBe(0);
    expect(ten.cells).toMatchObject([{ vertical: 'gym', contributors: 10, total: 50 }]);
  });

  it('k below 10 is refused in a product definition', () => {
    expect(() => product({ k: 9 })).toThrow(/k/);
  });

  it('dominance: a cell where one account is more than half of the total is suppressed', () => {
    const p = product();
    const values = [100, 10, 10, 10, 10, 10, 10, 0, 0, 0]; // 100 of 160
    expect(cohortCells(p, rowsOf(p, 'gym', values)).suppressed).toBe(1);
    const fine = [50, 10, 10, 10, 10, 10, 10, 0, 0, 0]; // 50 of 110
    expect(cohortCells(p, rowsOf(p, 'gym', fine)).suppressed).toBe(0);
  });
});

describe('releases', () => {
  const p = product();
  const cell = (values: number[]): ExactCell => ({
    vertical: 'gym',
    region: '*',
    contributors: values.length,
    total: values.reduce((a, b) => a + b, 0),
    histogram: cohortCells(p, rowsOf(p, 'gym', values)).cells[0].histogram,
  });

  it('cost: the release ε is split in whole thousandths among the measure groups and never exceeds it', () => {
    expect(releaseCost(p)).toEqual({ perGroup: 100, total: 300 });
    expect(releaseCost(product({ measures: ['total'] }))).toEqual({ perGroup: 300, total: 300 });
  });

  it('no release in 300 equals the exact figures (Δ=100, ε per figure 0.1)', () => {
    const exact = cell([7, 9, 12, 15, 20, 22, 30, 41, 55, 60]);
    const rng = seededSource('no-exact');
    for (let i = 0; i < 300; i++) {
      const [r] = releaseCells(p, [exact], rng);
      expect(r.total).not.toBe(exact.total);
    }
  });

  it('differencing: two releases that differ by one account do not reveal its value', () => {
    // ε 1 per figure (scale 100): totals far from 0, so no figure is clamped at 0 and the spread is pure noise.
    const q = product({ epsilon: { perRelease: 3, perPeriod: 3 } });
    const base = [70, 75, 80, 85, 90, 90, 95, 95, 100, 100];
    const cellOf = (values: number[]): ExactCell => ({
      ...cell(values),
      histogram: new Array(q.bins).fill(values.length / q.bins),
    });
    const withOne = cellOf([...base, 33]);
    const without = cellOf(base);
    const rng = seededSource('differencing');
    const diffs: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const [a] = releaseCells(q, [withOne], rng);
      const [b] = releaseCells(q, [without], rng);
      diffs.push(a.total! - b.total!);
    }
    // The attacker's estimate of the account's value is its true 33 only by chance...
    expect(diffs.filter((d) => d === 33).length / diffs.length).toBeLessThan(0.01);
    // ...and spread as two independent noises.
    const mean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    const variance = diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / diffs.length;
    expect(within(variance, 2 * discreteLaplaceVariance(100, 1000), 0.15)).toBe(true);
  });

  it('answers only the declared dimensions and measures, cohort-level', () => {
    const only = product({ measures: ['median'], dimensions: ['vertical'] });
    const [r] = releaseCells(only, [cell([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])], seededSource('shape'));
    expect(Object.keys(r).sort()).toEqual(['median', 'vertical']);
  });
});
