import { describe, expect, it } from 'vitest';
import { batched } from '../../server/lib/batched.ts';

/** A run that the test finishes by hand, recording what each run carried. */
function gatedRun() {
  const runs: number[][] = [];
  const gates: Array<() => void> = [];
  const run = async (items: number[]) => {
    runs.push(items);
    await new Promise<void>((open) => gates.push(open));
    if (items.includes(-1)) throw new Error('refused');
    return items.map((i) => i * 10);
  };
  return { runs, gates, run };
}

describe('batched', () => {
  it('runs a call at once when nothing is out, and the calls that waited together in the next run, each answered in order', async () => {
    const { runs, gates, run } = gatedRun();
    const call = batched(run);
    const first = call(1);
    expect(runs).toEqual([[1]]);
    const waiting = [call(2), call(3), call(4)];
    expect(runs).toEqual([[1]]);
    gates[0]();
    expect(await first).toBe(10);
    await new Promise((r) => setImmediate(r));
    expect(runs).toEqual([[1], [2, 3, 4]]);
    gates[1]();
    expect(await Promise.all(waiting)).toEqual([20, 30, 40]);
  });

  it('carries at most `max` calls per run and runs up to `concurrency` at once', async () => {
    const { runs, gates, run } = gatedRun();
    const call = batched(run, { max: 2, concurrency: 2 });
    const answers = [1, 2, 3, 4, 5, 6].map((i) => call(i));
    expect(runs).toEqual([[1], [2]]);
    gates[0]();
    gates[1]();
    await new Promise((r) => setImmediate(r));
    expect(runs).toEqual([[1], [2], [3, 4], [5, 6]]);
    gates[2]();
    gates[3]();
    expect(await Promise.all(answers)).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it('fails every call a failed run carried, and only those', async () => {
    const { gates, run } = gatedRun();
    const call = batched(run);
    const first = call(1);
    const failed = [call(-1), call(2)].map((p) => p.catch((err: Error) => err.message));
    gates[0]();
    await first;
    await new Promise((r) => setImmediate(r));
    gates[1]();
    expect(await Promise.all(failed)).toEqual(['refused', 'refused']);
    const later = call(3);
    await new Promise((r) => setImmediate(r));
    gates[2]();
    expect(await later).toBe(30);
  });
});
