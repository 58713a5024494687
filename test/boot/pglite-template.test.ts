import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openPglite } from '../../server/db/index.ts';
import { type MigrationSource, runMigrations } from '../../server/db/migrate.ts';
import { ensureTemplate, migrationSetKey, pruneOlder } from '../../server/db/pglite-template.ts';

const dirs: string[] = [];
const tmp = (prefix: string) => {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a new embedded data folder', () => {
  it('starts with the migrations applied and recorded, and a changed migration set gets its own template', async () => {
    const migrations = tmp('plaza-template-src-');
    writeFileSync(
      path.join(migrations, '001_notes.sql'),
      'CREATE TABLE template_notes (body text NOT NULL);',
    );
    const sources: MigrationSource[] = [{ owner: 'template_test', dir: migrations }];
    const first = await ensureTemplate(sources);

    const data = path.join(tmp('plaza-template-data-'), 'pgdata');
    const db = await openPglite(data, { migrations: sources });
    try {
      // Nothing left to apply, and the record says what was applied, just now.
      expect(await runMigrations(db, sources)).toEqual([]);
      const recorded = await db.query(
        "SELECT owner, name, applied_at > now() - interval '1 minute' AS recent FROM plaza_migrations",
      );
      expect(recorded).toEqual([{ owner: 'template_test', name: '001_notes.sql', recent: true }]);
      await db.query("INSERT INTO template_notes (body) VALUES ('works')");
    } finally {
      await db.close();
    }

    // A new migration: another template, whose copies have both.
    writeFileSync(path.join(migrations, '002_more.sql'), 'ALTER TABLE template_notes ADD COLUMN tag text;');
    const second = await ensureTemplate(sources);
    expect(second).not.toBe(first);
    expect(path.basename(second)).toContain(migrationSetKey(sources));
    const db2 = await openPglite(path.join(tmp('plaza-template-data-'), 'pgdata'), { migrations: sources });
    try {
      expect(await runMigrations(db2, sources)).toEqual([]);
      await db2.query("INSERT INTO template_notes (body, tag) VALUES ('x', 'y')");
      expect(await db2.query('SELECT count(*)::int AS n FROM plaza_migrations')).toEqual([{ n: 2 }]);
    } finally {
      await db2.close();
    }
  }, 60_000);
});

describe('pruning old templates', () => {
  it('removes old siblings and the unfinished builds of processes that are gone, keeps the rest', () => {
    const parent = tmp('plaza-template-prune-');
    const at = (name: string, ageMs = 0) => {
      const dir = path.join(parent, name);
      mkdirSync(dir);
      const when = new Date(Date.now() - ageMs);
      utimesSync(dir, when, when);
      return dir;
    };
    // A process id no process has here: the highest Linux hands out is 4,194,304.
    const runs = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    let gonePid = 4_194_000;
    while (runs(gonePid)) gonePid++;
    const keep = at('tpl-c');
    const old = at('tpl-a', 7_200_000);
    const young = at('tpl-b', 1_000);
    const deadBuild = at(`tpl-d.${gonePid}.tmp`);
    const liveBuild = at(`tpl-e.${process.pid}.tmp`, 7_200_000);
    const other = at('other-a', 7_200_000);

    pruneOlder(keep, (name) => name.startsWith('tpl-'), 3_600_000);

    expect([keep, old, young, deadBuild, liveBuild, other].map((d) => existsSync(d))).toEqual([
      true,
      false,
      true,
      false,
      true,
      true,
    ]);
  });
});
