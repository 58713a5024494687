import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProducts, SHIPPED_PRODUCTS, scopeOf } from '../products.ts';
import { isPeriodStart, periodStart } from '../service.ts';

/** Product files and period arithmetic: what decides which scope exists and which rows fall in which release. */
describe('product definitions', () => {
  it('the shipped products load, with the seeds’ k of 50 and scopes of the catalog’s form', () => {
    const products = loadProducts(SHIPPED_PRODUCTS);
    expect(products.map((p) => p.id)).toEqual(['monthly_app_installs', 'weekly_new_contacts']);
    for (const p of products) {
      expect(p.k).toBe(50);
      expect(scopeOf(p.id)).toBe(`data:${p.id}:read`);
      expect(scopeOf(p.id)).toMatch(/^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$/);
    }
  });

  it('a bad file is refused naming the file and the fields', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'dp-products-'));
    const good = JSON.parse(
      JSON.stringify(loadProducts(SHIPPED_PRODUCTS)[1], (k, v) =>
        k === 'epsilon' ? { perRelease: v.perRelease / 1000, perPeriod: v.perPeriod / 1000 } : v,
      ),
    );
    writeFileSync(
      path.join(dir, 'bad.json'),
      JSON.stringify({
        ...good,
        k: 5,
        clamp: { min: 10, max: 5 },
        epsilon: { perRelease: 0.0001, perPeriod: 1 },
      }),
    );
    expect(() => loadProducts(dir)).toThrow(/bad\.json: .*k: .*10/);
    expect(() => loadProducts(dir)).toThrow(/epsilon\.perRelease: at most three decimals/);
    writeFileSync(path.join(dir, 'bad.json'), JSON.stringify(good));
    writeFileSync(path.join(dir, 'twin.json'), JSON.stringify(good));
    expect(() => loadProducts(dir)).toThrow(/twin\.json: id "weekly_new_contacts" is taken/);
  });
});

describe('periods (UTC)', () => {
  const week = { period: 'week' as const };
  const month = { period: 'month' as const };
  it('weeks start on Monday, months on the 1st, counting back whole periods', () => {
    const sundayNight = new Date('2026-12-06T23:59:59Z');
    expect(periodStart(week, sundayNight)).toBe('2026-11-30');
    expect(periodStart(week, new Date('2026-11-30T00:00:00Z'))).toBe('2026-11-30');
    expect(periodStart(week, sundayNight, 1)).toBe('2026-11-23');
    expect(periodStart(month, new Date('2026-03-31T12:00:00Z'), 1)).toBe('2026-02-01');
    expect(periodStart(month, new Date('2026-01-15T00:00:00Z'), 1)).toBe('2025-12-01');
  });
  it('only a period’s first day names it', () => {
    expect(isPeriodStart(week, '2026-11-30')).toBe(true);
    expect(isPeriodStart(week, '2026-12-02')).toBe(false);
    expect(isPeriodStart(month, '2026-12-01')).toBe(true);
    expect(isPeriodStart(month, '2026-02-30')).toBe(false);
  });
});
