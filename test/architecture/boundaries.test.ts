import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMigrations } from '../../server/db/migrate.ts';
import { CORE_MODULES, coreMigrationSources } from '../../server/modules/index.ts';

/**
 * Module boundaries: a module reaches another only through that module's
 * index.ts (its service type, DTOs and schemas), and only its own SQL names
 * its tables. Reads the source as text, so it also covers code no test runs.
 */
const ROOT = path.resolve(import.meta.dirname, '../../server/modules');

interface SourceFile {
  module: string;
  /** Path from server/modules, for messages. */
  rel: string;
  abs: string;
  text: string;
}

function filesOf(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return filesOf(p);
    return /\.(ts|sql)$/.test(e.name) ? [p] : [];
  });
}

const sources: SourceFile[] = CORE_MODULES.flatMap((m) =>
  filesOf(m.dir).map((abs) => ({
    module: m.name,
    rel: path.relative(ROOT, abs),
    abs,
    text: readFileSync(abs, 'utf8'),
  })),
);

const SERVER = path.resolve(ROOT, '..');

/** The rest of the server (HTTP, plugin host, plugin API, seeds, core): `module` is empty. */
const outsideSources: SourceFile[] = filesOf(SERVER)
  .filter((abs) => abs.endsWith('.ts') && !abs.startsWith(ROOT + path.sep))
  .map((abs) => ({
    module: '',
    rel: path.relative(path.resolve(SERVER, '..'), abs),
    abs,
    text: readFileSync(abs, 'utf8'),
  }));

const stripComments = (text: string, sql: boolean) =>
  (sql ? text.replace(/--[^\n]*/g, '') : text.replace(/(^|[^:'"`\\])\/\/[^\n]*/g, '$1')).replace(
    /\/\*[\s\S]*?\*\//g,
    '',
  );

/** Every `import ... from`, `export ... from` and `import()` specifier of a .ts file. */
function specifiers(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) found.push(m[1]);
  return found;
}

/**
 * `module/file` imports that go around another module's index.ts. Files outside
 * server/modules have no module: every module is another one to them (the
 * loader, server/modules/index.ts, and module.ts are not modules).
 */
function crossModuleImports(files = sources): string[] {
  const bad: string[] = [];
  for (const f of files) {
    if (!f.abs.endsWith('.ts')) continue;
    for (const spec of specifiers(stripComments(f.text, false))) {
      if (!spec.startsWith('.')) continue;
      const target = path.relative(ROOT, path.resolve(path.dirname(f.abs), spec));
      const [owner, ...rest] = target.split(path.sep);
      if (rest.length === 0 || owner.startsWith('..') || owner === f.module) continue;
      if (rest.join('/') !== 'index.ts') bad.push(`${f.rel} imports ${spec}`);
    }
  }
  return bad;
}

const ownerOf = new Map(CORE_MODULES.flatMap((m) => (m.tables ?? []).map((t) => [t, m.name] as const)));
const SQL_NAME =
  /\b(from|join|into|update|table|references)\s+(?:only\s+)?(?:if\s+(?:not\s+)?exists\s+)?"?([a-z_][a-z0-9_]*)"?/gi;

/** Every place a module's SQL (.ts and .sql) names a table another module owns. */
function crossModuleTables(files = sources): Array<{ module: string; where: string; table: string }> {
  const requires = transitiveRequires();
  const bad: Array<{ module: string; where: string; table: string }> = [];
  for (const f of files) {
    const text = stripComments(f.text, f.abs.endsWith('.sql'));
    for (const m of text.matchAll(SQL_NAME)) {
      const table = m[2].toLowerCase();
      const owner = ownerOf.get(table);
      if (!owner || owner === f.module) continue;
      // A foreign key to a module this one requires is a declared dependency, not a read.
      if (m[1].toLowerCase() === 'references' && requires.get(f.module)?.has(owner)) continue;
      bad.push({ module: f.module, where: `${f.rel}: ${m[0].replace(/\s+/g, ' ')}`, table });
    }
  }
  return bad;
}

function transitiveRequires(): Map<string, Set<string>> {
  const direct = new Map(CORE_MODULES.map((m) => [m.name, [...(m.requires ?? [])]]));
  const all = new Map<string, Set<string>>();
  const walk = (name: string, into: Set<string>) => {
    for (const r of direct.get(name) ?? [])
      if (!into.has(r)) {
        into.add(r);
        walk(r, into);
      }
  };
  for (const name of direct.keys()) {
    const set = new Set<string>();
    walk(name, set);
    all.set(name, set);
  }
  return all;
}

describe('module boundaries', () => {
  it('a module imports another module only through its index.ts', () => {
    expect(crossModuleImports()).toEqual([]);
  });

  it('code outside server/modules imports a module only through its index.ts', () => {
    expect(outsideSources.length).toBeGreaterThan(0);
    expect(crossModuleImports(outsideSources)).toEqual([]);
  });

  it("a module's SQL names only its own tables (foreign keys only to modules it requires)", () => {
    expect(crossModuleTables().map((o) => o.where)).toEqual([]);
  });

  it("each module's `tables` are exactly the tables its migrations create (after renames and drops)", () => {
    const created = new Map<string, Set<string>>();
    const STATEMENT =
      /\b(create|drop)\s+(?:unlogged\s+)?table\s+(?:if\s+(?:not\s+)?exists\s+)?"?([a-z_][a-z0-9_]*)"?|\balter\s+table\s+(?:if\s+exists\s+)?"?([a-z_][a-z0-9_]*)"?\s+rename\s+to\s+"?([a-z_][a-z0-9_]*)/gi;
    for (const source of coreMigrationSources()) {
      const tables = created.get(source.owner) ?? new Set<string>();
      created.set(source.owner, tables);
      for (const m of readMigrations(source))
        for (const [, verb, name, from, to] of stripComments(m.sql, true).matchAll(STATEMENT)) {
          if (verb?.toLowerCase() === 'create') tables.add(name.toLowerCase());
          else if (verb) tables.delete(name.toLowerCase());
          else {
            tables.delete(from.toLowerCase());
            tables.add(to.toLowerCase());
          }
        }
    }
    for (const m of CORE_MODULES)
      expect({ module: m.name, tables: [...(m.tables ?? [])].sort() }).toEqual({
        module: m.name,
        tables: [...(created.get(m.name) ?? [])].sort(),
      });
  });

  it('every folder of server/modules is a module (an index.ts with defineModule)', () => {
    const folders = readdirSync(ROOT, { withFileTypes: true }).filter((e) => e.isDirectory());
    // The loader skips a folder without index.ts: its migrations would never run.
    expect(folders.map((e) => e.name).sort()).toEqual(CORE_MODULES.map((m) => m.name).sort());
  });

  it('finds what it is meant to find (the checks can fail)', () => {
    const planted: SourceFile[] = [
      {
        module: 'reviews',
        rel: 'reviews/planted.ts',
        abs: path.join(ROOT, 'reviews', 'planted.ts'),
        text: "import { x } from '../apps/urls.ts';\nimport type { A } from '../apps/index.ts';\nconst q = `SELECT * FROM apps JOIN review_submissions s ON true`;",
      },
      {
        module: 'apps',
        rel: 'apps/planted.sql',
        abs: path.join(ROOT, 'apps', 'planted.sql'),
        text: '-- FROM users\nCREATE TABLE t (u text REFERENCES users (id), c text REFERENCES contacts (id));',
      },
    ];
    expect(crossModuleImports(planted)).toEqual(['reviews/planted.ts imports ../apps/urls.ts']);
    const outside: SourceFile = {
      module: '',
      rel: 'server/http/planted.ts',
      abs: path.join(SERVER, 'http', 'planted.ts'),
      text: [
        "import type { EventsService } from '../modules/events/service.ts';",
        "import type { IdentityService } from '../modules/identity/index.ts';",
        "import { CORE_MODULES } from '../modules/index.ts';",
        "import type { Platform } from '../modules/module.ts';",
        "import { problem } from './errors.ts';",
      ].join('\n'),
    };
    expect(crossModuleImports([outside])).toEqual([
      'server/http/planted.ts imports ../modules/events/service.ts',
    ]);
    expect(crossModuleTables(planted).map((o) => o.table)).toEqual(['apps', 'contacts']);
  });
});
