import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Db } from './index.ts';

/** A folder of `NNN_name.sql` files owned by one module or plugin. */
export interface MigrationSource {
  owner: string;
  dir: string;
}

export interface Migration {
  owner: string;
  name: string;
  sql: string;
  checksum: string;
}

export function readMigrations(source: MigrationSource): Migration[] {
  let files: string[];
  try {
    files = readdirSync(source.dir).filter((f) => f.endsWith('.sql'));
  } catch {
    return [];
  }
  return files.sort().map((name) => {
    const sql = readFileSync(path.join(source.dir, name), 'utf8');
    return { owner: source.owner, name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
  });
}

/**
 * Applies pending migrations in order, each in its own transaction, under an
 * advisory lock so that processes starting together do not race. A migration
 * that was applied and then edited stops the boot: history is not rewritten.
 */
export async function runMigrations(db: Db, sources: MigrationSource[]): Promise<string[]> {
  // Most starts find everything applied: one read (the table is created only when it is
  // missing, DDL costing more than the read), and a transaction only for what is new.
  const read = () =>
    db.query<{ owner: string; name: string; checksum: string }>(
      'SELECT owner, name, checksum FROM plaza_migrations',
    );
  const rows = await read().catch(async (err) => {
    if ((err as { code?: string }).code !== '42P01') throw err; // undefined_table
    await db.exec(`CREATE TABLE IF NOT EXISTS plaza_migrations (
      owner text NOT NULL, name text NOT NULL, checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (owner, name))`);
    return read();
  });
  const known = new Map(rows.map((r) => [`${r.owner}/${r.name}`, r.checksum]));
  const applied: string[] = [];
  for (const source of sources) {
    for (const m of readMigrations(source)) {
      if (known.get(`${m.owner}/${m.name}`) === m.checksum) continue;
      const done = await db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(7421001)');
        const row = await tx.maybeOne<{ checksum: string }>(
          'SELECT checksum FROM plaza_migrations WHERE owner = $1 AND name = $2',
          [m.owner, m.name],
        );
        if (row) {
          if (row.checksum !== m.checksum)
            throw new Error(`migration ${m.owner}/${m.name} was changed after it was applied`);
          return false;
        }
        await tx.exec(m.sql);
        await tx.query('INSERT INTO plaza_migrations (owner, name, checksum) VALUES ($1, $2, $3)', [
          m.owner,
          m.name,
          m.checksum,
        ]);
        return true;
      });
      if (done) applied.push(`${m.owner}/${m.name}`);
    }
  }
  return applied;
}
