/**
 * `npm start`'s entry, in plain JavaScript: Node compiles an entry before any
 * of its code runs, so with server/main.ts as the entry every start loaded the
 * TypeScript stripper (70-300 ms with its WebAssembly). Here the compile cache
 * is on first, and main.ts and what it imports come from the cache, stripped.
 */
import { existsSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import path from 'node:path';

enableCompileCache();
// A restart on embedded PGlite (its start is most of a restart) begins before main.ts loads the
// configuration: the same rule as server/config.ts (PLAZA_DATA_DIR, default .plaza; no
// DATABASE_URL). main.ts takes it over, or starts its own when its configuration says otherwise.
const pgdata = path.resolve(process.env.PLAZA_DATA_DIR || '.plaza', 'pgdata');
if (!process.env.DATABASE_URL && existsSync(path.join(pgdata, 'PG_VERSION')))
  (await import('./db/pglite-worker.ts')).startEarly(pgdata);
// The largest dependencies from one bundle instead of their ~440 files (scripts/server-vendor.ts),
// made by the first start after an install.
const { ensureVendor, useVendor } = await import('../scripts/server-vendor.ts');
const vendor = await ensureVendor();
if (vendor) useVendor(vendor);
await import('./main.ts');
