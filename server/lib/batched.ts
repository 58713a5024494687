/**
 * One statement for many concurrent callers: a call made while `concurrency`
 * runs are out waits for one of them, then goes with every call that waited
 * meanwhile (at most `max`) in a single `run`. A call made when fewer are out
 * runs at once, so an idle process adds no wait. `run` answers its items in
 * their order; a run that throws fails every call it carried.
 */
export function batched<I, O>(
  run: (items: I[]) => Promise<O[]>,
  { max = 64, concurrency = 1 }: { max?: number; concurrency?: number } = {},
): (item: I) => Promise<O> {
  const waiting: Array<{ item: I; resolve: (out: O) => void; reject: (err: unknown) => void }> = [];
  let running = 0;
  async function drain(): Promise<void> {
    running++;
    try {
      while (waiting.length) {
        const batch = waiting.splice(0, max);
        try {
          const out = await run(batch.map((w) => w.item));
          for (const [i, w] of batch.entries()) w.resolve(out[i]);
        } catch (err) {
          for (const w of batch) w.reject(err);
        }
      }
    } finally {
      running--;
    }
  }
  return (item) =>
    new Promise<O>((resolve, reject) => {
      waiting.push({ item, resolve, reject });
      if (running < concurrency) void drain();
    });
}
