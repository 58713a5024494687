import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

/** A fresh database with every module's migrations (the ledger's among them). */
export async function createLedgerDatabase(): Promise<TestDatabase> {
  return createTestDatabase();
}
