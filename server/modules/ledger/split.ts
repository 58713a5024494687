/**
 * Divides `total` minor units in proportion to `weights` so that the parts
 * sum to `total` exactly: each part gets the floor of its exact share, and
 * the units left over go one each to the largest remainders (ties to the
 * earlier weight). No cent is created or lost.
 */
export function allocate(total: bigint, weights: bigint[]): bigint[] {
  if (total < 0n) throw new Error('allocate: total must not be negative');
  if (weights.length === 0) throw new Error('allocate: no weights');
  if (weights.some((w) => w < 0n)) throw new Error('allocate: weights must not be negative');
  const sum = weights.reduce((a, b) => a + b, 0n);
  if (sum === 0n) throw new Error('allocate: weights sum to zero');
  const parts = weights.map((w) => (total * w) / sum);
  let left = total - parts.reduce((a, b) => a + b, 0n);
  const order = weights
    .map((w, i) => ({ i, rem: (total * w) % sum }))
    .sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1));
  for (const { i } of order) {
    if (left === 0n) break;
    parts[i] += 1n;
    left -= 1n;
  }
  return parts;
}
