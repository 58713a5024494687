import { expect } from 'vitest';

/** What an HTTP call answered (a supertest response). */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: any;
}

/**
 * Fires `n` copies of `a` and `n` of `b` at the same moment (interleaved, all
 * started before any is awaited) and waits for every one. A call that throws
 * fails the race: answers, not exceptions, are what clients see.
 */
export async function race<A, B>(
  n: number,
  a: () => PromiseLike<A>,
  b: () => PromiseLike<B>,
): Promise<{ a: A[]; b: B[] }> {
  const calls: Array<PromiseLike<A | B>> = [];
  for (let i = 0; i < n; i++) calls.push(a(), b());
  const settled = await Promise.all(calls);
  return {
    a: settled.filter((_, i) => i % 2 === 0) as A[],
    b: settled.filter((_, i) => i % 2 === 1) as B[],
  };
}

/** Every answer is a success or a client error in problem+json, never a 5xx; `allowed` narrows the statuses. */
export function expectClientOutcomes(label: string, answers: Answer[], allowed?: number[]): void {
  for (const res of answers) {
    const what = `${label}: ${res.status} ${JSON.stringify(res.body)}`;
    expect(res.status, what).toBeLessThan(500);
    if (res.status >= 400) expect(res.headers['content-type'], what).toMatch(/application\/problem\+json/);
    if (allowed) expect(allowed, what).toContain(res.status);
  }
}

/**
 * Races two HTTP operations, checks no answer is a 5xx or a non-problem
 * error, then checks the invariants the caller states over what is stored.
 */
export async function raceHttp(opts: {
  label: string;
  n?: number;
  a: () => PromiseLike<Answer>;
  b: () => PromiseLike<Answer>;
  allowed?: number[];
  invariant: (answers: { a: Answer[]; b: Answer[] }) => Promise<void> | void;
}): Promise<{ a: Answer[]; b: Answer[] }> {
  const answers = await race(opts.n ?? 4, opts.a, opts.b);
  expectClientOutcomes(opts.label, [...answers.a, ...answers.b], opts.allowed);
  await opts.invariant(answers);
  return answers;
}
