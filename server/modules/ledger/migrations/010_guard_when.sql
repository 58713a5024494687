-- The guards that let rows into ledger_transactions and ledger_entries only through
-- ledger_post test ledger.posting in the trigger's WHEN: a posting (where ledger_post
-- sets it) no longer calls a PL/pgSQL function per statement and table; any other
-- INSERT still fires the guard and is refused as before.
DROP TRIGGER ledger_entries_through_post ON ledger_entries;
DROP TRIGGER ledger_transactions_through_post ON ledger_transactions;
CREATE TRIGGER ledger_entries_through_post BEFORE INSERT ON ledger_entries
  FOR EACH STATEMENT WHEN (current_setting('ledger.posting', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ledger_only_through_post();
CREATE TRIGGER ledger_transactions_through_post BEFORE INSERT ON ledger_transactions
  FOR EACH STATEMENT WHEN (current_setting('ledger.posting', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION ledger_only_through_post();
