import { runMigrations } from '../../server/db/migrate.ts';
import { ledgerMigrations } from '../../server/modules/ledger/core.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/** A fresh database with the core migrations and the ledger's. */
export async function createLedgerDatabase(): Promise<TestDatabase> {
  const t = await createTestDatabase();
  await runMigrations(t.db, [ledgerMigrations]);
  return t;
}
