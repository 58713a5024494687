-- 1. The balance, entry-count and currency checks move into ledger_post (on its
-- arrays, before writing), and a cheap guard lets rows into ledger_entries and
-- ledger_transactions only through ledger_post: per-statement transition
-- tables cost more than the rest of a posting.
-- 2. Busy platform-wide accounts spread their cached balance over slots chosen
-- per database connection (a slot of -1 in the call): one connection never
-- holds two slots of one account, so postings from different connections
-- rarely wait on each other and cannot deadlock over slots. Slot rows beyond
-- 0 are created on first use.
CREATE OR REPLACE FUNCTION ledger_post(
  p_id text, p_key text, p_hash text, p_currency text, p_effective timestamptz,
  p_description text, p_source_kind text, p_source_id text, p_provider_object text,
  p_accounts bigint[], p_directions text[], p_amounts bigint[],
  p_bal_accounts bigint[], p_bal_slots smallint[], p_bal_deltas bigint[]
) RETURNS TABLE (transaction_id text, body_hash text, replayed boolean)
LANGUAGE plpgsql AS $$
DECLARE
  busy smallint := pg_backend_pid() % 32;
  s smallint;
BEGIN
  IF coalesce(array_length(p_accounts, 1), 0) < 2
     OR (SELECT sum(CASE WHEN u.d = 'debit' THEN u.m WHEN u.d = 'credit' THEN -u.m END)
         FROM unnest(p_directions, p_amounts) AS u(d, m)) IS DISTINCT FROM 0 THEN
    RAISE EXCEPTION 'ledger transaction % does not balance in its one currency', p_id
      USING ERRCODE = 'P0001', HINT = 'ledger_unbalanced';
  END IF;
  IF EXISTS (SELECT 1 FROM ledger_accounts WHERE id = ANY (p_accounts) AND currency <> p_currency)
     OR (SELECT count(*) FROM ledger_accounts WHERE id = ANY (p_accounts)) <> (SELECT count(DISTINCT a) FROM unnest(p_accounts) AS a) THEN
    RAISE EXCEPTION 'ledger transaction % uses accounts outside its one currency %', p_id, p_currency
      USING ERRCODE = 'P0001', HINT = 'ledger_unbalanced';
  END IF;
  PERFORM set_config('ledger.posting', 'on', true);
  INSERT INTO ledger_transactions (id, idempotency_key, body_hash, currency, effective_at, description,
    source_kind, source_id, provider_object_id)
  VALUES (p_id, p_key, p_hash, p_currency, p_effective, p_description, p_source_kind, p_source_id, p_provider_object)
  ON CONFLICT (idempotency_key) DO NOTHING;
  IF NOT FOUND THEN
    PERFORM set_config('ledger.posting', '', true);
    RETURN QUERY SELECT t.id, t.body_hash, true FROM ledger_transactions t WHERE t.idempotency_key = p_key;
    RETURN;
  END IF;
  INSERT INTO ledger_entries (transaction_id, account_id, direction, amount)
  SELECT p_id, u.a, u.d, u.m FROM unnest(p_accounts, p_directions, p_amounts) AS u(a, d, m);
  PERFORM set_config('ledger.posting', '', true);
  FOR i IN 1 .. coalesce(array_length(p_bal_accounts, 1), 0) LOOP
    s := CASE WHEN p_bal_slots[i] < 0 THEN busy ELSE p_bal_slots[i] END;
    UPDATE ledger_balances SET balance = balance + p_bal_deltas[i]
    WHERE account_id = p_bal_accounts[i] AND slot = s;
    IF NOT FOUND THEN
      -- Only accounts that may overdraw use slots beyond 0 (slot 0 exists for every account).
      INSERT INTO ledger_balances (account_id, slot, no_overdraft, balance)
      VALUES (p_bal_accounts[i], s, false, p_bal_deltas[i])
      ON CONFLICT (account_id, slot) DO UPDATE SET balance = ledger_balances.balance + EXCLUDED.balance;
    END IF;
  END LOOP;
  RETURN QUERY SELECT p_id, p_hash, false;
END $$;

DROP TRIGGER ledger_entries_balanced ON ledger_entries;
DROP FUNCTION ledger_check_balanced();

CREATE FUNCTION ledger_only_through_post() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('ledger.posting', true) IS DISTINCT FROM 'on' THEN
    RAISE EXCEPTION 'ledger % rows are written only by ledger_post, which checks that they balance', TG_TABLE_NAME
      USING ERRCODE = 'P0001', HINT = 'ledger_unbalanced';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_entries_through_post BEFORE INSERT ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_only_through_post();
CREATE TRIGGER ledger_transactions_through_post BEFORE INSERT ON ledger_transactions
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_only_through_post();
