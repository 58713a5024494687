import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bundleInto, entryFile, VENDORED } from '../../scripts/server-vendor.ts';

/**
 * `npm start` loads the largest dependencies from one bundle in place of the
 * packages (scripts/server-vendor.ts); the server imports each by name, so
 * each bundle entry must export what the package does, with the same default
 * export's members (a CommonJS package's entry exports its exports object as
 * the default only: the server imports those packages by default).
 */
describe('the server bundle', () => {
  it('exports what each bundled package exports', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'plaza-vendor-')), 'bundle');
    try {
      await bundleInto(dir);
      for (const name of VENDORED) {
        const own = await import(name);
        const bundled = await import(pathToFileURL(path.join(dir, entryFile(name))).href);
        const keys = (m: object) => Object.keys(m).sort();
        if (keys(bundled).join() !== 'default') expect(keys(bundled), name).toEqual(keys(own));
        expect(typeof bundled.default, name).toBe(typeof own.default);
        if (own.default) expect(keys(bundled.default), name).toEqual(keys(own.default));
      }
    } finally {
      rmSync(path.dirname(dir), { recursive: true, force: true });
    }
  }, 120_000);
});
