/**
 * When the next attempt of a message happens. Pure functions: the delivery
 * engine passes the configured schedule, time scale and bounds.
 */
export interface RetryPolicy {
  /** Delay before each attempt of a round, in ms; the first entry is the first attempt. */
  schedule: number[];
  /** Multiplies the schedule (tests run it in seconds). */
  timeScale: number;
  /** Longest Retry-After honoured, in seconds. */
  retryAfterMaxSeconds: number;
  /** Random spread, as a fraction of the delay (0.1: ±10%). */
  jitter?: number;
}

/**
 * Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date),
 * or null when it is absent or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  const trimmed = v.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** The first attempt's delay (normally 0: at once). */
export function firstDelayMs(policy: RetryPolicy): number {
  return Math.round((policy.schedule[0] ?? 0) * policy.timeScale);
}

/**
 * Delay before the next attempt after `attemptsInRound` attempts of the
 * current round failed, or null when the schedule is used up (dead letter).
 * On 429 and 503 a Retry-After (capped) is a floor.
 */
export function nextDelayMs(
  policy: RetryPolicy,
  attemptsInRound: number,
  failure: { status: number | null; retryAfterSeconds: number | null },
  random: () => number = Math.random,
): number | null {
  if (attemptsInRound >= policy.schedule.length) return null;
  const base = policy.schedule[attemptsInRound] * policy.timeScale;
  const jitter = policy.jitter ?? 0.1;
  let delay = base * (1 - jitter + 2 * jitter * random());
  if ((failure.status === 429 || failure.status === 503) && failure.retryAfterSeconds !== null) {
    const asked = Math.min(failure.retryAfterSeconds, policy.retryAfterMaxSeconds) * 1000;
    delay = Math.max(delay, asked);
  }
  return Math.max(0, Math.round(delay));
}
