import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importViolations, scanPlugins, webImportViolations } from './import-scan.ts';

/** The house rule "a plugin imports nothing from server/ but server/plugin-api/", checked on every file. */
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const roots = ['plugins', 'test/fixtures/plugins']
  .map((r) => path.join(repo, r))
  .filter((r) => existsSync(r));

describe('plugins import only server/plugin-api', () => {
  it('holds for every file under plugins/ and test/fixtures/plugins/ (server code and web pages)', () => {
    const scans = roots.map((r) => scanPlugins(r, repo));
    // The fixtures alone are a dozen files: an empty scan would prove nothing.
    expect(scans.reduce((n, s) => n + s.files, 0)).toBeGreaterThanOrEqual(10);
    expect(scans.flatMap((s) => s.violations)).toEqual([]);
  });

  it('fails on a planted plugin that reaches around the API, in its server code and in its web page', () => {
    const repoRoot = mkdtempSync(path.join(tmpdir(), 'plaza-imports-'));
    try {
      const write = (rel: string, text: string) => {
        mkdirSync(path.dirname(path.join(repoRoot, rel)), { recursive: true });
        writeFileSync(path.join(repoRoot, rel), text);
      };
      write('plugins/planted/index.ts', "import { definePlugin } from '../../server/plugin-api/index.ts';\n");
      write(
        'plugins/planted/lib/db.ts',
        "export const load = () => import('../../../server/db/index.ts');\n",
      );
      write(
        'plugins/planted/web/Page.vue',
        "<script setup lang=\"ts\">\nimport { request } from '../../../web/src/plugin-kit.ts';\nimport { session } from '../../../web/src/session.ts';\n</script>\n<template><p>import('x')</p></template>\n",
      );
      const { files, violations } = scanPlugins(path.join(repoRoot, 'plugins'), repoRoot);
      expect(files).toBe(3);
      expect(violations).toEqual([
        expect.stringMatching(
          /^plugins\/planted\/lib\/db\.ts: imports "\.\.\/\.\.\/\.\.\/server\/db\/index\.ts"/,
        ),
        expect.stringMatching(
          /^plugins\/planted\/web\/Page\.vue: imports "\.\.\/\.\.\/\.\.\/web\/src\/session\.ts"/,
        ),
      ]);
    } finally {
      rmSync(repoRoot, { recursive: true, force: true });
    }
  });

  it('lets web pages import only the plugin kit from Plaza', () => {
    const check = (source: string) =>
      webImportViolations(
        '/repo/plugins/x/web/Page.vue',
        '/repo/plugins/x',
        '/repo',
        `<script setup>\n${source}\n</script>`,
      );
    expect(
      check("import { request } from '../../../web/src/plugin-kit.ts';\nimport { ref } from 'vue';"),
    ).toEqual([]);
    expect(check("import type { Plan } from '../dto.ts';\nimport Row from './Row.vue';")).toEqual([]);
    expect(check("import { api } from '../../../web/src/api.ts';")).toHaveLength(1);
    expect(check("import { z } from '../../../server/plugin-api/index.ts';")).toHaveLength(1);
    expect(check("import x from '../../other/web/Page.vue';")).toHaveLength(1);
    expect(check("const p = () => import('../../../web/src/pages/HomePage.vue');")).toHaveLength(1);
    expect(check('const p = () => import(name);')).toHaveLength(1);
    expect(check("import x from 'web/src/api.ts';")).toHaveLength(1);
  });

  it('catches the ways around it', () => {
    const check = (source: string) =>
      importViolations('/repo/plugins/x/index.ts', '/repo/plugins/x', '/repo', source);
    expect(check("import { definePlugin } from '../../server/plugin-api/index.ts';")).toEqual([]);
    expect(check("import { helper } from './lib/helper.ts';\nimport Stripe from 'stripe';")).toEqual([]);
    expect(check("import { createCore } from '../../server/core.ts';")).toHaveLength(1);
    expect(check("import type { Db } from '../../server/db/index.ts';")).toHaveLength(1);
    expect(check("export { z } from '../../server/http/route.ts';")).toHaveLength(1);
    expect(check("import '../../server/seed.ts';")).toHaveLength(1);
    expect(check("const m = await import('../../server/modules/index.ts');")).toHaveLength(1);
    expect(check("import {\n  a,\n  b,\n} from '../other-plugin/index.ts';")).toHaveLength(1);
    expect(check("import x from 'server/core.ts';")).toHaveLength(1);
    expect(check('const m = await import(name);')).toHaveLength(1);
    expect(check("// import { no } from '../../server/core.ts';")).toEqual([]);
  });

  it("lets a plugin's own tests start Plaza with the test helpers, and nothing else of the repository", () => {
    const check = (source: string) =>
      importViolations('/repo/plugins/x/test/x.test.ts', '/repo/plugins/x', '/repo', source);
    expect(check("import { startPlaza } from '../../../test/helpers/plaza.ts';")).toEqual([]);
    expect(check("import { buildWeb } from '../../../scripts/build-web.ts';")).toEqual([]);
    expect(check("import { x } from '../../../scripts/generate-sdk-types.ts';")).toHaveLength(1);
    expect(check("import x from '../index.ts';")).toEqual([]);
    expect(check("import { createCore } from '../../../server/core.ts';")).toHaveLength(1);
    expect(check("import { FIXTURES } from '../../../test/plugins/harness.ts';")).toHaveLength(1);
    // The plugin's own code may not use the helpers.
    expect(
      importViolations(
        '/repo/plugins/x/index.ts',
        '/repo/plugins/x',
        '/repo',
        "import '../../test/helpers/plaza.ts';",
      ),
    ).toHaveLength(1);
  });
});
