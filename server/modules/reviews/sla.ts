/**
 * The published review target: a number of business days (Monday to Friday,
 * UTC) from submission: each day counted skips Saturday and Sunday, so
 * five business days from a Wednesday end on the next Wednesday.
 */
export function addBusinessDays(from: Date, days: number): Date {
  const d = new Date(from.getTime());
  let left = days;
  while (left > 0) {
    d.setUTCDate(d.getUTCDate() + 1);
    const day = d.getUTCDay();
    if (day !== 0 && day !== 6) left--;
  }
  return d;
}
