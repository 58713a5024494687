import { createHmac, randomInt } from 'node:crypto';

/**
 * Differential-privacy noise in integers only. The sampler is Canonne, Kamath
 * and Steinke's exact discrete Laplace ("The Discrete Gaussian for
 * Differential Privacy", 2020, algorithms 1 and 2): every step is a uniform
 * integer draw and an integer comparison, so no floating-point rounding can
 * leave traces of the true value in the low bits of a release (the known
 * attack on textbook `Math.random()` Laplace).
 */

/** Uniform integers: the only randomness the sampler uses. */
export interface RandomSource {
  /** A uniform integer in [0, n), 1 <= n < 2^48. */
  below(n: number): number;
}

/** The production source: the operating system's CSPRNG. */
export const cryptoSource: RandomSource = { below: (n) => randomInt(n) };

const TWO_48 = 2 ** 48;

/**
 * A deterministic source (HMAC-SHA256 in counter mode, rejection-sampled to
 * be exactly uniform) for tests and reproducible statistical checks; never
 * for releases in production (a known seed makes the noise removable).
 */
export function seededSource(seed: string): RandomSource {
  let counter = 0;
  let block = Buffer.alloc(0);
  let at = 0;
  const next48 = () => {
    if (at + 6 > block.length) {
      block = createHmac('sha256', seed).update(String(counter++)).digest();
      at = 0;
    }
    const v = block.readUIntBE(at, 6);
    at += 6;
    return v;
  };
  return {
    below(n) {
      if (!Number.isInteger(n) || n < 1 || n >= TWO_48) throw new RangeError(`below(${n})`);
      const limit = Math.floor(TWO_48 / n) * n;
      for (;;) {
        const v = next48();
        if (v < limit) return v % n;
      }
    },
  };
}

/** Bernoulli(num/den), exactly. */
const bernoulli = (num: number, den: number, rng: RandomSource) => rng.below(den) < num;

/** Bernoulli(exp(-num/den)) for num/den in [0, 1] (CKS algorithm 1). */
function bernoulliExpSmall(num: number, den: number, rng: RandomSource): boolean {
  let k = 1;
  while (bernoulli(num, den * k, rng)) k++;
  return k % 2 === 1;
}

/** Bernoulli(exp(-num/den)) for any num/den >= 0. */
export function bernoulliExp(num: number, den: number, rng: RandomSource): boolean {
  const whole = Math.floor(num / den);
  for (let i = 0; i < whole; i++) if (!bernoulliExpSmall(1, 1, rng)) return false;
  return bernoulliExpSmall(num - whole * den, den, rng);
}

/**
 * One draw of the discrete Laplace distribution P(y) ∝ exp(-|y|·s/t) (scale
 * t/s), s and t positive integers (CKS algorithm 2).
 */
export function discreteLaplace(s: number, t: number, rng: RandomSource): number {
  if (!Number.isInteger(s) || !Number.isInteger(t) || s < 1 || t < 1)
    throw new RangeError(`discreteLaplace needs positive integers (got s=${s}, t=${t})`);
  for (;;) {
    const u = rng.below(t);
    if (!bernoulliExp(u, t, rng)) continue;
    let v = 0;
    while (bernoulliExp(1, 1, rng)) v++;
    const y = Math.floor((u + t * v) / s);
    const negative = rng.below(2) === 1;
    if (negative && y === 0) continue; // otherwise 0 would be drawn twice as often
    return negative ? -y : y;
  }
}

/**
 * ε is kept in thousandths (an integer), so the budget ledger adds exactly and
 * the noise scale is an exact ratio: noise for a query of sensitivity Δ with
 * ε = milli/1000 has P(y) ∝ exp(-|y|·ε/Δ), i.e. s = milli, t = 1000·Δ.
 */
export function noiseFor(sensitivity: number, epsilonMilli: number, rng: RandomSource): number {
  return discreteLaplace(epsilonMilli, 1000 * sensitivity, rng);
}

/** The variance of that distribution, 2p/(1-p)² with p = exp(-ε/Δ) (for checks and the docs, not for sampling). */
export function discreteLaplaceVariance(sensitivity: number, epsilonMilli: number): number {
  const p = Math.exp(-epsilonMilli / 1000 / sensitivity);
  return (2 * p) / (1 - p) ** 2;
}
