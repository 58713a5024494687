/**
 * ECharts for the dashboard pages only: imported by their lazy route chunks,
 * never by the marketplace or the rest of the app (test/web/bundle checks the
 * built chunks). Only the chart types and components the dashboards draw are
 * registered, with the SVG renderer (crisp at any zoom, text stays text).
 */
import { BarChart, HeatmapChart, LineChart, PieChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent, VisualMapComponent } from 'echarts/components';
import { use } from 'echarts/core';
import { SVGRenderer } from 'echarts/renderers';
import type { Chart } from '../../dashboards.ts';

use([
  BarChart,
  LineChart,
  PieChart,
  HeatmapChart,
  GridComponent,
  LegendComponent,
  TooltipComponent,
  VisualMapComponent,
  SVGRenderer,
]);

/**
 * Colour-blind safe (Okabe-Ito) and at least 3:1 against white; the server's
 * emails use the same. A white-label brand's accent (checked for contrast by
 * the branding module) leads when there is one.
 */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#56B4E9', '#E69F00', '#000000'];

export function palette(): string[] {
  // Set inline on the root only on a branded host (web/src/branding.ts); the stylesheet's default is not a brand.
  const accent = document.documentElement.style.getPropertyValue('--accent').trim();
  return accent ? [accent, ...PALETTE] : PALETTE;
}

export function formatValue(v: number | null, unit: Chart['unit'], currency?: string | null): string {
  if (v === null) return '–';
  switch (unit) {
    case 'percent':
      return `${v}%`;
    case 'ms':
      return `${v} ms`;
    case 'hours':
      return `${v} h`;
    case 'money': {
      if (!currency) return String(v);
      const f = new Intl.NumberFormat(undefined, { style: 'currency', currency });
      return f.format(v / 10 ** (f.resolvedOptions().maximumFractionDigits ?? 2));
    }
    default:
      return String(v);
  }
}

/** The ECharts option that draws a dashboard chart; `narrow`: a phone-sized screen. */
export function optionOf(c: Chart, narrow: boolean) {
  const colors = palette();
  const currencyOf = (seriesName?: string) =>
    c.unit !== 'money'
      ? null
      : (c.currency ?? (seriesName && /^[A-Z]{3}$/.test(seriesName) ? seriesName : null));
  const fmt = (v: number | null, seriesName?: string) => formatValue(v, c.unit, currencyOf(seriesName));
  /** Labels on bars: money in whole units of its currency, without decimals (the table has them exact). */
  const short = (v: number, seriesName: string) => {
    const currency = currencyOf(seriesName);
    if (!currency) return String(v);
    const f = new Intl.NumberFormat(undefined, { style: 'currency', currency, maximumFractionDigits: 0 });
    const digits =
      new Intl.NumberFormat(undefined, { style: 'currency', currency }).resolvedOptions()
        .maximumFractionDigits ?? 2;
    return f.format(v / 10 ** digits);
  };
  const shortX = c.x.map((x) => (/^\d{4}-\d{2}-\d{2}$/.test(x) ? x.slice(5) : x));
  // Few points: the numbers are written on the chart (and read by the screenshot test).
  const labelled = c.x.length <= 14;
  if (c.kind === 'pie')
    return {
      color: colors,
      tooltip: { trigger: 'item' },
      legend: { bottom: 0, type: 'scroll' },
      series: [
        {
          type: 'pie',
          radius: narrow ? ['30%', '60%'] : ['35%', '65%'],
          data: c.x.map((name, i) => ({ name, value: c.series[0]?.data[i] ?? 0 })),
          label: { formatter: '{b}: {c}' },
        },
      ],
    };
  if (c.kind === 'heatmap') {
    const data: Array<[number, number, number | null]> = [];
    c.series.forEach((s, w) => {
      s.data.forEach((v, i) => {
        if (v !== null) data.push([w, i, v]);
      });
    });
    return {
      tooltip: {
        formatter: (p: { value: [number, number, number] }) =>
          `${c.x[p.value[1]]}, week ${p.value[0]}: ${p.value[2]}%`,
      },
      grid: { left: narrow ? 70 : 90, right: 16, top: 8, bottom: 60 },
      xAxis: { type: 'category', data: c.series.map((s) => s.name.replace('Week ', 'W')) },
      yAxis: { type: 'category', data: c.x, inverse: true },
      visualMap: {
        min: 0,
        max: 100,
        orient: 'horizontal',
        left: 'center',
        bottom: 0,
        itemHeight: narrow ? 120 : 200,
        inRange: { color: ['#f0f4fa', '#0072B2'] },
      },
      series: [
        {
          type: 'heatmap',
          data,
          label: { show: !narrow, formatter: (p: { value: number[] }) => `${p.value[2]}` },
        },
      ],
    };
  }
  return {
    color: colors,
    tooltip: {
      trigger: 'axis',
      formatter: (
        items: Array<{ axisValueLabel: string; seriesName: string; value: number | null; marker: string }>,
      ) =>
        [
          items[0]?.axisValueLabel ?? '',
          ...items.map((i) => `${i.marker} ${i.seriesName}: ${fmt(i.value, i.seriesName)}`),
        ].join('<br>'),
    },
    legend: { bottom: 0, type: 'scroll' },
    grid: { left: narrow ? 40 : 56, right: 12, top: 16, bottom: 56, containLabel: false },
    xAxis: { type: 'category', data: shortX, axisLabel: { hideOverlap: true } },
    yAxis: {
      type: 'value',
      minInterval: c.unit === 'count' ? 1 : undefined,
      axisLabel: { formatter: (v: number) => (c.unit === 'money' ? String(v / 100) : String(v)) },
    },
    series: c.series.map((s) => ({
      name: s.name,
      type: c.kind === 'line' || s.line ? 'line' : 'bar',
      stack: c.kind === 'stacked' && !s.line ? 'total' : undefined,
      z: s.line ? 3 : 2,
      data: s.data,
      connectNulls: false,
      showSymbol: c.x.length <= 31,
      label: {
        show: labelled,
        position: c.kind === 'stacked' && !s.line ? 'inside' : 'top',
        fontSize: 10,
        formatter: (p: { value: number | null }) => (p.value ? short(p.value, s.name) : ''),
      },
    })),
  };
}
