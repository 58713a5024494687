import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importViolations, pluginFiles, readSource } from './import-scan.ts';

/** The house rule "a plugin imports nothing from server/ but server/plugin-api/", checked on every file. */
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const roots = ['plugins', 'test/fixtures/plugins']
  .map((r) => path.join(repo, r))
  .filter((r) => existsSync(r));

describe('plugins import only server/plugin-api', () => {
  it('holds for every file under plugins/ and test/fixtures/plugins/', () => {
    const files = roots.flatMap(pluginFiles);
    // The fixtures alone are a dozen files: an empty scan would prove nothing.
    expect(files.length).toBeGreaterThanOrEqual(10);
    const violations = files.flatMap(({ file, pluginRoot }) =>
      importViolations(file, pluginRoot, repo, readSource(file)),
    );
    expect(violations).toEqual([]);
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
