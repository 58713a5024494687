import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config.ts';
import type { Core } from '../core.ts';
import type { MigrationSource } from '../db/migrate.ts';
import {
  buildAt,
  copyInto,
  isCluster,
  migrationSetKey,
  pruneOlder,
  templateDir,
} from '../db/pglite-template.ts';
import { createLogger } from '../logger.ts';
import { DEMO_LOGINS, demoPassword, seedDemo } from './index.ts';

/**
 * The demo seed on embedded PGlite, done once per machine: a template data
 * folder (cluster + uploads) with the core migrations and the demo data
 * applied, next to the migrations template, copied on a first start instead
 * of running the seed (most of a first start's time: hundreds of statements
 * and the pictures). The copy then gets what must be its own: new random
 * passwords for the demo logins (hashed as at sign-up), its own OAuth signing
 * keys (the template keeps none), the installation's base URL wherever the
 * seed wrote it (queued emails, picture URLs), and timestamps moved to now.
 *
 * The template is keyed by the migration set, a hash of the server's code and
 * mail templates (what the seed runs) and of the configuration that is not
 * per installation, so that any change makes a new one. Only the plain setup
 * uses it: no plugins, no dashboard history, no Stripe; otherwise the seed runs.
 */

/** Stands for the installation's base URL in the template; replaced in the copy. */
const TEMPLATE_BASE_URL = 'http://plaza-demo-template.invalid';
/** Per installation, so not part of the template's key. */
const PER_INSTALL = new Set([
  'port',
  'host',
  'publicUrl',
  'baseUrl',
  'dataDir',
  'secret',
  'logLevel',
  'role',
]);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function demoTemplateUsable(config: Config): boolean {
  return (
    config.seedDemo &&
    config.role !== 'worker' &&
    !config.databaseUrl &&
    !config.redisUrl &&
    !config.stripeSecretKey &&
    config.plugins.length === 0 &&
    config.seedHistoryDays === 0
  );
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

/** The hash of the server's code (migrations included) and mail templates and of the settings. */
function demoHash(config: Config): string {
  const h = createHash('sha256');
  for (const file of [...filesUnder(path.join(root, 'server')), ...filesUnder(path.join(root, 'templates'))])
    h.update(`${path.relative(root, file)}\0`).update(readFileSync(file));
  const settings = Object.entries(config).filter(([k]) => !PER_INSTALL.has(k));
  h.update(JSON.stringify(settings));
  return h.digest('hex').slice(0, 12);
}

export function demoTemplateDir(config: Config, migrations: MigrationSource[]): string {
  return `${templateDir(migrationSetKey(migrations))}-demo-${demoHash(config)}`;
}

/**
 * The demo template made for this code and configuration, if there is one: found by the
 * hash alone (it covers the migrations, which are server files), so without the module
 * definitions that coreMigrationSources needs; a first start copies it before they load.
 */
function findDemoTemplate(config: Config): string | undefined {
  const base = templateDir();
  const parent = path.dirname(base);
  const prefix = `${path.basename(base)}-m`;
  const suffix = `-demo-${demoHash(config)}`;
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return undefined;
  }
  const name = names.find(
    (n) => n.startsWith(prefix) && n.endsWith(suffix) && isCluster(path.join(parent, n, 'pgdata')),
  );
  return name && path.join(parent, name);
}

const isEmpty = (dir: string) => !existsSync(dir) || readdirSync(dir).length === 0;

/** Builds the demo template when missing (one full seed, in this process); returns its folder. */
export async function ensureDemoTemplate(config: Config, migrations: MigrationSource[]): Promise<string> {
  const dir = demoTemplateDir(config, migrations);
  if (isCluster(path.join(dir, 'pgdata'))) return dir;
  await buildAt(
    dir,
    async (building) => {
      mkdirSync(building, { recursive: true });
      // Loaded here only: the core is needed only when the template is built.
      const { createCore } = await import('../core.ts');
      const core = await createCore(
        {
          ...config,
          dataDir: building,
          baseUrl: TEMPLATE_BASE_URL,
          secret: randomBytes(32).toString('base64url'),
        },
        { log: createLogger('warn') },
      );
      try {
        if (!(await seedDemo(core))) throw new Error('the demo template already had users');
        // When it was built, and the columns the copy fixes (columnsToFix); dropped from the copy.
        await core.db.query(
          'CREATE TABLE plaza_demo_template (built_at timestamptz NOT NULL, fixes jsonb NOT NULL)',
        );
        // Sealed under the throwaway secret above: the copy makes its own at its first start.
        await core.db.query('DELETE FROM oauth_signing_keys');
        await core.db.query('INSERT INTO plaza_demo_template (built_at, fixes) VALUES (now(), $1)', [
          JSON.stringify(await columnsToFix(core)),
        ]);
      } finally {
        await core.close();
      }
    },
    (built) => isCluster(path.join(built, 'pgdata')),
  );
  // Other demo templates of the same PGlite version, made over ten minutes ago (a copy takes well under a second).
  const sameVersion = path.basename(dir).replace(/-m.*$/, '');
  pruneOlder(dir, (name) => name.startsWith(sameVersion) && name.includes('-demo-'), 600_000);
  return dir;
}

type Fix = { column: string; kind: 'time' | 'date' | 'url'; type: string };
const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * What a copy must fix, by table: every timestamptz or date column that holds
 * a value (migrations' and the template's own bookkeeping aside), and every
 * column where the placeholder base URL was written (e.g. picture URLs).
 */
async function columnsToFix(core: Core): Promise<Record<string, Fix[]>> {
  const cols = await core.db.query(
    `SELECT table_name, column_name, data_type, udt_name FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name NOT IN ('plaza_migrations', 'plaza_demo_template')
       AND data_type IN ('timestamp with time zone', 'date', 'text', 'character varying', 'jsonb', 'ARRAY')
     ORDER BY table_name, ordinal_position`,
  );
  const out: Record<string, Fix[]> = {};
  for (const c of cols) {
    const kind =
      c.data_type === 'timestamp with time zone' ? 'time' : c.data_type === 'date' ? 'date' : 'url';
    const col = quote(c.column_name);
    const used = await core.db.maybeOne(
      `SELECT 1 FROM ${quote(c.table_name)} WHERE ${kind === 'url' ? `${col}::text LIKE '%${TEMPLATE_BASE_URL}%'` : `${col} IS NOT NULL`} LIMIT 1`,
    );
    if (!used) continue;
    out[c.table_name] ??= [];
    out[c.table_name].push({ column: c.column_name, kind, type: c.udt_name });
  }
  return out;
}

/**
 * Fills a new data folder from the demo template. Returns false (the caller
 * seeds as usual) when the setup does not use it, the folder already holds
 * data, or no template can be made (e.g. a read-only node_modules).
 */
export async function copyDemoTemplate(config: Config, migrations: MigrationSource[]): Promise<boolean> {
  if (!demoTemplateUsable(config) || !newDataFolder(config)) return false;
  let template: string;
  try {
    template = await ensureDemoTemplate(config, migrations);
  } catch (err) {
    process.emitWarning(`no demo template (${(err as Error).message}); seeding the demo data`);
    return false;
  }
  copyFrom(template, config);
  return true;
}

/**
 * copyDemoTemplate when the template already exists (any start after the first on a machine,
 * or in the Docker image), without the migration sources: server/main.ts calls it before the
 * modules load, so that PGlite starts on the copy meanwhile. False when it did not copy.
 */
export function copyFoundDemoTemplate(config: Config): boolean {
  if (!demoTemplateUsable(config) || !newDataFolder(config)) return false;
  const template = findDemoTemplate(config);
  if (!template) return false;
  copyFrom(template, config);
  return true;
}

const newDataFolder = (config: Config) =>
  isEmpty(path.resolve(config.dataDir, 'pgdata')) && isEmpty(path.resolve(config.dataDir, 'uploads'));

function copyFrom(template: string, config: Config): void {
  const pgdata = path.resolve(config.dataDir, 'pgdata');
  const uploads = path.resolve(config.dataDir, 'uploads');
  if (existsSync(path.join(template, 'uploads')))
    cpSync(path.join(template, 'uploads'), uploads, { recursive: true });
  copyInto(path.join(template, 'pgdata'), pgdata);
}

/**
 * Makes a copied demo data folder this installation's own (see above);
 * returns the logins to print. Called once, right after copyDemoTemplate copied.
 */
export async function finishDemoCopy(
  core: Core,
): Promise<Array<{ who: string; email: string; password: string }>> {
  const { db } = core;
  const logins = DEMO_LOGINS.map(({ who, email }) => ({ who, email, password: demoPassword() }));
  // The hashes are computed here, with the production parameters, for passwords no other copy has.
  const found = await Promise.all(logins.map((l) => core.identity.setPassword(l.email, l.password)));
  if (found.includes(false)) throw new Error('the demo template lacks a demo login');
  await db.transaction(async (tx) => {
    // The seed's times move by the template's age (it all happened "now"), and the placeholder
    // base URL becomes this installation's: one statement, an UPDATE per table that needs one.
    const { fixes } = await tx.one('SELECT fixes FROM plaza_demo_template');
    const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
    const set = (f: Fix) => {
      const c = quote(f.column);
      if (f.kind === 'time') return `${c} = ${c} + age`;
      if (f.kind === 'date') return `${c} = ${c} + days`;
      return `${c} = replace(${c}::text, ${literal(TEMPLATE_BASE_URL)}, ${literal(core.config.baseUrl)})::${quote(f.type)}`;
    };
    const updates = Object.entries(fixes as Record<string, Fix[]>).map(
      ([table, cols]) => `UPDATE ${quote(table)} SET ${cols.map(set).join(', ')};`,
    );
    await tx.query(`DO $$
      DECLARE
        built timestamptz := (SELECT built_at FROM plaza_demo_template);
        age interval := now() - built;
        days integer := current_date - built::date;
      BEGIN
        ${updates.join('\n        ')}
      END $$`);
    await tx.query('DROP TABLE plaza_demo_template');
  });
  return logins;
}
