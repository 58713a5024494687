import type { JobDefinition, JobOptions } from './types.ts';

/** Shared by both adapters so that they behave the same. */
export const DEFAULT_ATTEMPTS = 3;
export const DEFAULT_BACKOFF = { baseMs: 1000, maxMs: 3_600_000 };
/** `stop()` without a timeout waits this long (the default of PLAZA_SHUTDOWN_TIMEOUT_MS). */
export const DEFAULT_STOP_TIMEOUT_MS = 15_000;

/** Total tries of a new job: the enqueue option, else the definition (when known here), else 3. */
export function resolveAttempts(def: JobDefinition | undefined, opts: JobOptions): number {
  return Math.max(1, Math.floor(opts.attempts ?? def?.attempts ?? DEFAULT_ATTEMPTS));
}

/** Wait before the next try after try number `attempt` (1-based) failed: baseMs * 2^(attempt-1), capped. */
export function backoffMs(def: JobDefinition, attempt: number): number {
  const baseMs = def.backoff?.baseMs ?? DEFAULT_BACKOFF.baseMs;
  const maxMs = def.backoff?.maxMs ?? DEFAULT_BACKOFF.maxMs;
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err));
}

/** Resolves true when `promise` settles within `ms`, false otherwise (never rejects). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
