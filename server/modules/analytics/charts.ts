import { z } from 'zod';
import { PlazaError } from '../../errors.ts';

/**
 * The shapes every dashboard answers with. A chart is a table: `x` are the
 * row labels (days, months, reasons, endpoints...) and each series a column,
 * so the CSV export of a chart is exactly the numbers the chart draws.
 */
export const ChartSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    description: z.string(),
    kind: z.enum(['line', 'bar', 'stacked', 'pie', 'heatmap']),
    unit: z
      .enum(['count', 'percent', 'ms', 'hours', 'money', 'stars'])
      .describe('money: minor units of the currency that names the series'),
    currency: z
      .string()
      .nullable()
      .describe('unit money: the currency of every series; null when each series is named by its currency'),
    x: z.array(z.string()),
    series: z.array(
      z.object({
        name: z.string(),
        data: z.array(z.number().nullable()),
        line: z.boolean().optional().describe('Drawn as a line over the bars (a total beside its parts)'),
      }),
    ),
    empty: z.boolean().describe('Nothing to draw in this range: show `hint` instead'),
    hint: z.string().describe('What to do to get data into this chart'),
  })
  .meta({ id: 'AnalyticsChart' });
export type Chart = z.output<typeof ChartSchema>;

export const StatSchema = z
  .object({
    id: z.string(),
    label: z.string(),
    value: z.number().nullable().describe('null: not enough data'),
    unit: z.enum(['count', 'percent', 'ms', 'hours', 'money']),
    currency: z.string().nullable(),
    note: z.string().nullable(),
  })
  .meta({ id: 'AnalyticsStat' });
export type Stat = z.output<typeof StatSchema>;

export const DashboardSchema = z
  .object({
    kind: z.enum(['developer', 'operator', 'agency']),
    from: z.string().describe('First day (UTC), YYYY-MM-DD'),
    to: z.string().describe('Last day (UTC), YYYY-MM-DD'),
    apps: z
      .array(z.object({ id: z.string(), name: z.string() }))
      .describe('Developer: the apps to choose from'),
    appId: z.string().nullable(),
    stats: z.array(StatSchema),
    charts: z.array(ChartSchema),
    notes: z.array(z.string()).describe('What this dashboard does not show yet, and why'),
  })
  .meta({ id: 'AnalyticsDashboard' });
export type Dashboard = z.output<typeof DashboardSchema>;

const DAY = /^\d{4}-\d{2}-\d{2}$/;
export const RANGES = ['7d', '30d', '90d', 'custom'] as const;
export const RangeQuery = z.object({
  range: z
    .enum(RANGES)
    .default('30d')
    .describe('7, 30 or 90 days ending today (UTC), or custom (from and to)'),
  from: z.string().max(10).optional().describe('range=custom: first day, YYYY-MM-DD'),
  to: z.string().max(10).optional().describe('range=custom: last day, YYYY-MM-DD (at most today)'),
});
/** Longest custom range. */
export const MAX_RANGE_DAYS = 366;

export interface DayRange {
  from: string;
  to: string;
  days: string[];
}

const invalid = (field: string, reason: string) =>
  new PlazaError('PLAZA_VALIDATION', `${field}: ${reason}`, { fields: [{ field, reason }] });

export const isoDay = (d: Date) => d.toISOString().slice(0, 10);
export const addDays = (day: string, n: number) => {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return isoDay(d);
};

function validDay(v: string | undefined, field: string): string {
  if (!v) throw invalid(field, 'required when range is custom');
  if (!DAY.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`)) || isoDay(new Date(`${v}T00:00:00Z`)) !== v)
    throw invalid(field, 'must be a date YYYY-MM-DD');
  return v;
}

/** The days of a range query, oldest first; 400 naming the field when it does not make sense. */
export function resolveRange(q: z.output<typeof RangeQuery>, today: string): DayRange {
  let from: string;
  let to: string;
  if (q.range === 'custom') {
    from = validDay(q.from, 'query.from');
    to = validDay(q.to, 'query.to');
    if (to > today) throw invalid('query.to', `must be today (${today}) or earlier`);
    if (from > to) throw invalid('query.from', 'must be on or before to');
    if (Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000) + 1 > MAX_RANGE_DAYS)
      throw invalid('query.from', `the range may span at most ${MAX_RANGE_DAYS} days`);
  } else {
    if (q.from !== undefined) throw invalid('query.from', 'only with range=custom');
    if (q.to !== undefined) throw invalid('query.to', 'only with range=custom');
    to = today;
    from = addDays(today, -(Number.parseInt(q.range, 10) - 1));
  }
  const days: string[] = [];
  for (let d = from; d <= to; d = addDays(d, 1)) days.push(d);
  return { from, to, days };
}

/** A chart whose emptiness follows from its numbers (all zero or null). */
export function chart(c: Omit<Chart, 'empty' | 'currency'> & { currency?: string | null }): Chart {
  const empty = c.x.length === 0 || c.series.every((s) => s.data.every((v) => v === null || v === 0));
  return { ...c, currency: c.currency ?? null, empty };
}

/** Values per day of the range from rows keyed by day (0 where none). */
export function perDay(days: string[], rows: any[], value: (r: any) => number): number[] {
  const by = new Map<string, number>();
  for (const r of rows) by.set(r.day, (by.get(r.day) ?? 0) + value(r));
  return days.map((d) => by.get(d) ?? 0);
}

/** One series per key (a currency, a payout state): the rows of that key summed per day. */
export function seriesPerDay(
  days: string[],
  keys: string[],
  rows: any[],
  keyOf: (r: any) => string,
  value: (r: any) => number,
): Array<{ name: string; data: number[] }> {
  return keys.map((k) => ({
    name: k,
    data: perDay(
      days,
      rows.filter((r) => keyOf(r) === k),
      value,
    ),
  }));
}

/** The q-quantile (0..1) of numbers, by nearest rank; null when there are none. */
export function quantile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

function csvCell(v: string | number | null): string {
  if (v === null) return '';
  const s = String(v);
  // Quoted when needed, and a leading formula character neutralized (spreadsheets run =, +, -, @).
  const safe = /^[=+\-@\t\r]/.test(s) && typeof v === 'string' ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

/** The chart's table as CSV: a header row (label, one column per series), then one row per x. */
export function chartCsv(c: Chart): string {
  const lines: Array<Array<string | number | null>> = [
    [c.unit === 'money' ? 'label (amounts in minor units)' : 'label', ...c.series.map((s) => s.name)],
  ];
  c.x.forEach((label, i) => {
    lines.push([label, ...c.series.map((s) => s.data[i] ?? null)]);
  });
  return `${lines.map((row) => row.map(csvCell).join(',')).join('\r\n')}\r\n`;
}

/** Every chart in one long table: chart, unit, label, series, value (one row per number drawn). */
export function allChartsCsv(charts: Chart[]): string {
  const lines: Array<Array<string | number | null>> = [['chart', 'unit', 'label', 'series', 'value']];
  for (const c of charts)
    c.x.forEach((label, i) => {
      for (const s of c.series) lines.push([c.id, c.unit, label, s.name, s.data[i] ?? null]);
    });
  return `${lines.map((row) => row.map(csvCell).join(',')).join('\r\n')}\r\n`;
}
