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
export const WEEKLY_CHARTS = ['installs', 'active_installations', 'api_calls', 'revenue'];

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
      const link = `/orgs/${orgId}/dashboard`;
      const html = `<div style="font: 14px/1.5 system-ui, sans-serif; color: #1a1a1a; max-width: 640px">
<h1 style="font-size: 18px">${escapeHtml(org.name)}: week of ${r.from}</h1>
<ul>${stats.map((s) => `<li>${escapeHtml(s.label)}: <strong>${escapeHtml(s.value)}</strong></li>`).join('')}</ul>
${svgs.length ? svgs.map((svg) => `<div style="margin: 12px 0">${svg}</div>`).join('\n') : '<p>No installs, API calls or revenue last week.</p>'}
<p><a href="${escapeHtml(link)}">Open the dashboard</a></p>
</div>`;
      for (const m of recipients)
        await mail.sendWithHtml(
          'weekly-summary',
          { to: m.email, orgName: org.name, weekFrom: r.from, weekTo: r.to, stats, link },
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
