/**
 * Billing periods. A period starts at UTC midnight, so usage kept per UTC day
 * (billing_usage_daily) adds up to any period exactly. Monthly periods step by
 * calendar months from the anchor, clamped to the month's last day (an
 * anchor on the 31st bills on the 30th in April, on the 31st again in May).
 */
export type Interval = 'month' | 'year';

const DAY = 86_400_000;

export const startOfDayUTC = (d: Date) =>
  new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));

/** `anchor` moved by `months` calendar months, the day clamped to the target month's length. */
export function addMonthsUTC(anchor: Date, months: number): Date {
  const y = anchor.getUTCFullYear();
  const m = anchor.getUTCMonth() + months;
  const target = new Date(Date.UTC(y, m, 1));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  return new Date(
    Date.UTC(target.getUTCFullYear(), target.getUTCMonth(), Math.min(anchor.getUTCDate(), lastDay)),
  );
}

export const stepOf = (interval: Interval) => (interval === 'year' ? 12 : 1);

/** The period of `interval` anchored at `anchor` (a UTC midnight) that contains `at`. */
export function periodContaining(anchor: Date, interval: Interval, at: Date): { start: Date; end: Date } {
  const step = stepOf(interval);
  // A first guess from the month difference, then at most a step either way.
  let n =
    Math.floor(
      ((at.getUTCFullYear() - anchor.getUTCFullYear()) * 12 + at.getUTCMonth() - anchor.getUTCMonth()) / step,
    ) - 1;
  for (;;) {
    const start = addMonthsUTC(anchor, n * step);
    const end = addMonthsUTC(anchor, (n + 1) * step);
    if (at < start) n--;
    else if (at >= end) n++;
    else return { start, end };
  }
}

/** The calendar month of `at`: the period of an account without a subscription. */
export const calendarMonth = (at: Date) => periodContaining(new Date(Date.UTC(2000, 0, 1)), 'month', at);

export const daysBetween = (a: Date, b: Date) => Math.round((b.getTime() - a.getTime()) / DAY);

/** `YYYY-MM-DD` of a UTC midnight. */
export const isoDay = (d: Date) => d.toISOString().slice(0, 10);
