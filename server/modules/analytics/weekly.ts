import type { Db } from '../../db/index.ts';
import type { Logger } from '../../logger.ts';
import type { AppsService } from '../apps/index.ts';
import type { MailService } from '../mail/index.ts';
import type { OrganizationsService } from '../organizations/index.ts';
import { addDays, type Chart, type DayRange, isoDay } from './charts.ts';
import type { createDashboards } from './dashboards.ts';
import { weekOf } from './ingest.ts';

/** Colour-blind safe (Okabe-Ito), each with at least 3:1 contrast on white; the web app uses the same. */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#56B4E9', '#E69F00', '#000000'];
/** The charts of the weekly email. */
export const WEEKLY_CHARTS = ['installs', 'active_installations', 'api_calls', 'revenue', 'trial_conversion'];

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** The ECharts option of a dashboard chart (line/bar/stacked), no animation: it is drawn once, on the server. */
function optionOf(c: Chart) {
  return {
    animation: false,
    color: PALETTE,
    title: { text: c.title, left: 8, top: 4, textStyle: { fontSize: 14, fontFamily: 'sans-serif' } },
    legend: { bottom: 0, textStyle: { fontFamily: 'sans-serif' } },
    grid: { left: 48, right: 16, top: 36, bottom: 48 },
    xAxis: { type: 'category', data: c.x.map((x) => x.slice(5)) },
    yAxis: {
      type: 'value',
      minInterval: 1,
      axisLabel: { formatter: (v: number) => (c.unit === 'money' ? String(v / 100) : String(v)) },
    },
    series: c.series.map((s) => ({
      name: s.name,
      type: c.kind === 'line' ? 'line' : 'bar',
      stack: c.kind === 'stacked' ? 'total' : undefined,
      data: s.data,
      label: {
        show: c.x.length <= 7 && c.kind !== 'line',
        position: 'top',
        fontSize: 10,
        // Money in whole units (minor units / 100 for the currencies the demo and most apps use).
        formatter: (p: { value: number | null }) =>
          !p.value
            ? ''
            : c.unit === 'money'
              ? `${Math.round(p.value / 100)} ${c.currency ?? s.name}`
              : String(p.value),
      },
    })),
  };
}

/** A number as the email shows it: money in whole units with its currency, nothing drawn as a dash. */
function shown(c: Chart, seriesName: string, v: number | null): string {
  if (v === null) return '-';
  if (c.unit === 'money') return `${(v / 100).toFixed(2)} ${c.currency ?? seriesName}`;
  if (c.unit === 'percent') return `${v}%`;
  return String(v);
}

/**
 * What a chart comes to over the week, per series: the last day's value for a line (a level,
 * such as active installations), otherwise the week's sum (a flow, such as installs); a series
 * that is itself a rate (drawn as a line over bars) is left out, its parts say it.
 */
export function weekTotals(c: Chart): Array<{ name: string; value: string }> {
  return c.series
    .filter((s) => c.kind === 'line' || !s.line)
    .map((s) => {
      const known = s.data.filter((v): v is number => v !== null);
      const v = c.kind === 'line' ? (known.at(-1) ?? null) : known.reduce((a, b) => a + b, 0);
      return { name: s.name, value: shown(c, s.name, v) };
    });
}

/** The chart's numbers as a plain-text table (the text part; clients that show no HTML). */
export function textTable(c: Chart): string {
  const rows = [
    ['Day', ...c.series.map((s) => s.name)],
    ...c.x.map((x, i) => [x, ...c.series.map((s) => shown(c, s.name, s.data[i] ?? null))]),
  ];
  const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  return rows
    .map((r) => r.map((cell, j) => (j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j]))).join('  '))
    .join('\n');
}

/** The chart's numbers as an HTML table: what a mail client that strips inline SVG still shows. */
export function htmlTable(c: Chart): string {
  const cell = 'padding: 2px 8px; border-bottom: 1px solid #ddd';
  const head = ['Day', ...c.series.map((s) => s.name)]
    .map(
      (h, j) => `<th scope="col" style="${cell}; text-align: ${j ? 'right' : 'left'}">${escapeHtml(h)}</th>`,
    )
    .join('');
  const body = c.x
    .map(
      (x, i) =>
        `<tr><th scope="row" style="${cell}; text-align: left; font-weight: normal">${escapeHtml(x)}</th>${c.series
          .map(
            (s) =>
              `<td style="${cell}; text-align: right">${escapeHtml(shown(c, s.name, s.data[i] ?? null))}</td>`,
          )
          .join('')}</tr>`,
    )
    .join('');
  return `<table data-chart="${escapeHtml(c.id)}" style="border-collapse: collapse; font-size: 12px; margin: 4px 0 16px">
<caption style="text-align: left; font-weight: 600">${escapeHtml(c.title)}</caption>
<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

export function createWeeklySummary(deps: {
  db: Db;
  log: Logger;
  apps: AppsService;
  organizations: OrganizationsService;
  mail: MailService;
  dashboards: ReturnType<typeof createDashboards>;
  now: () => Date;
}) {
  const { db, log, apps, organizations, mail, dashboards, now } = deps;

  /** Each chart as an SVG document, drawn by ECharts' server-side renderer (no browser). */
  async function renderCharts(charts: Chart[], width = 600, height = 260): Promise<string[]> {
    // Loaded only when a summary is drawn: the library is large and most starts never need it.
    const echarts = await import('echarts');
    return charts.map((c) => {
      const chart = echarts.init(null, null, { renderer: 'svg', ssr: true, width, height });
      try {
        chart.setOption(optionOf(c) as never);
        return chart.renderToSVGString();
      } finally {
        chart.dispose();
      }
    });
  }

  /** Last complete ISO week (Monday to Sunday, UTC). */
  function lastWeek(): DayRange {
    const from = addDays(weekOf(isoDay(now())), -7);
    const days = Array.from({ length: 7 }, (_, i) => addDays(from, i));
    return { from, to: days[6], days };
  }

  async function sendFor(orgId: string, r: DayRange): Promise<boolean> {
    // The claim first: a second run of the job (or a second worker) finds it and sends nothing.
    const claimed = await db.maybeOne(
      'INSERT INTO analytics_weekly_sent (organization_id, week) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1',
      [orgId, r.from],
    );
    if (!claimed) return false;
    try {
      const [org] = [...(await organizations.byIds([orgId])).values()];
      const recipients = (await organizations.membersOf(orgId)).filter(
        (m) => (m.role === 'owner' || m.role === 'admin') && m.email,
      );
      if (!org || recipients.length === 0) return false;
      const d = await dashboards.developer(orgId, undefined, r);
      const charts = WEEKLY_CHARTS.map((id) => d.charts.find((c) => c.id === id)).filter(
        (c): c is Chart => Boolean(c) && !c!.empty,
      );
      // A week with nothing to show is not worth an email (and a new install's first start,
      // whose demo developers have no history, then never loads ECharts). The claim stays.
      if (charts.length === 0) return false;
      const svgs = await renderCharts(charts);
      const stats = d.stats
        .filter((s) => s.unit !== 'money' || s.value !== null)
        .map((s) => ({
          label: s.label,
          value:
            s.value === null
              ? 'not enough data yet'
              : s.unit === 'percent'
                ? `${s.value}%`
                : s.unit === 'money'
                  ? `${(s.value / 100).toFixed(2)} ${s.currency ?? ''}`.trim()
                  : String(s.value),
        }));
      // The text part carries each chart's week total and its numbers per day.
      const textCharts = charts.map((c) => ({
        title: c.title,
        totals: weekTotals(c)
          .map((t) => `${t.name}: ${t.value}`)
          .join(', '),
        table: textTable(c),
      }));
      const link = `/orgs/${orgId}/dashboard`;
      const html = `<div style="font: 14px/1.5 system-ui, sans-serif; color: #1a1a1a; max-width: 640px">
<h1 style="font-size: 18px">${escapeHtml(org.name)}: week of ${r.from}</h1>
<ul>${stats.map((s) => `<li>${escapeHtml(s.label)}: <strong>${escapeHtml(s.value)}</strong></li>`).join('')}</ul>
${charts.map((c, i) => `<div style="margin: 12px 0">${svgs[i]}</div>\n${htmlTable(c)}`).join('\n')}
<p><a href="${escapeHtml(link)}">Open the dashboard</a></p>
</div>`;
      for (const m of recipients)
        await mail.sendWithHtml(
          'weekly-summary',
          { to: m.email, orgName: org.name, weekFrom: r.from, weekTo: r.to, stats, link, charts: textCharts },
          html,
        );
      return true;
    } catch (err) {
      await db.query('DELETE FROM analytics_weekly_sent WHERE organization_id = $1 AND week = $2', [
        orgId,
        r.from,
      ]);
      throw err;
    }
  }

  return {
    renderCharts,
    lastWeek,
    /** Sends last week's summary to each developer organization that has not had it; returns how many. */
    async sendDue(): Promise<number> {
      const r = lastWeek();
      let sent = 0;
      for (const orgId of await apps.developerOrganizationIds()) {
        try {
          if (await sendFor(orgId, r)) sent++;
        } catch (err) {
          log.error({ err, orgId }, 'analytics: weekly summary failed; the next run tries again');
        }
      }
      return sent;
    },
  };
}
