import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { build, type Manifest } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The chart library rides only with the dashboard pages: the web app is built
 * here (into a folder of its own, with Vite's manifest) and every chunk the
 * first page load fetches (the entry and its static imports: the marketplace,
 * sign-in, every non-dashboard page) is read for ECharts' code.
 */
const root = path.resolve(import.meta.dirname, '../../web');
// ECharts marks the DOM node it draws in with this attribute; minified builds keep the string.
const ECHARTS_MARK = '_echarts_instance_';
let out: string;
let manifest: Manifest;

beforeAll(async () => {
  out = mkdtempSync(path.join(tmpdir(), 'plaza-web-bundle-'));
  await build({
    configFile: path.join(root, 'vite.config.ts'),
    logLevel: 'silent',
    build: { outDir: out, emptyOutDir: true, manifest: true, sourcemap: false },
  });
  manifest = JSON.parse(readFileSync(path.join(out, '.vite', 'manifest.json'), 'utf8'));
}, 180_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The chunks loaded with a manifest key: itself and its static imports, transitively. */
function staticClosure(key: string, seen = new Set<string>()): Set<string> {
  if (seen.has(key)) return seen;
  seen.add(key);
  for (const k of manifest[key].imports ?? []) staticClosure(k, seen);
  return seen;
}
const code = (key: string) => readFileSync(path.join(out, manifest[key].file), 'utf8');

describe('web bundle', () => {
  it('the first page load (marketplace included) carries no ECharts; the dashboard chunks do', () => {
    const entry = Object.keys(manifest).find((k) => manifest[k].isEntry)!;
    const initial = staticClosure(entry);
    // The marketplace page is part of what the first load brings.
    expect(
      [...initial].some((k) => k.includes('MarketplacePage.vue') || code(k).includes('marketplace')),
    ).toBe(true);
    for (const k of initial)
      expect(code(k).includes(ECHARTS_MARK), `${manifest[k].file} carries ECharts`).toBe(false);

    const dashboards = Object.keys(manifest).filter(
      (k) => k.includes('pages/dashboards/') && k.endsWith('Page.vue'),
    );
    expect(dashboards.map((k) => path.basename(k)).sort()).toEqual([
      'AgencyChartsPage.vue',
      'DeveloperDashboardPage.vue',
      'OperatorDashboardPage.vue',
    ]);
    for (const k of dashboards) {
      // Loaded on demand by the router, and bringing the library with them.
      expect(manifest[entry].dynamicImports).toContain(k);
      expect(
        [...staticClosure(k)].some((c) => code(c).includes(ECHARTS_MARK)),
        k,
      ).toBe(true);
    }
  });
});
