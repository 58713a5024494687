-- A posting with fewer statements inside ledger_post, every check kept:
-- 1. the balance, entry-count, currency and unknown-account checks are one
--    statement (were four);
-- 2. the closed-period check runs once in ledger_post, right after the
--    transaction row is written (so a closing either waits for this posting's
--    lock on ledger_transactions or is seen by it), instead of a per-row trigger;
--    rows still enter only through ledger_post;
-- 3. the cached balances are locked in (account, slot) order by one statement
--    (so concurrent postings cannot deadlock) and changed by one more, instead
--    of one UPDATE per account (a release of 500 partners made 1,000);
-- 4. ledger_transactions_source_idx and ledger_entries_account_idx go: no query
--    reads by them, and every posting paid for them (one more index entry per
--    entry);
-- 5. cached balances leave room on their pages, so their many updates stay
--    HOT (no new index entry per update);
-- 6. ledger_entries loses its two foreign keys: their per-entry checks cost
--    more than the rest of the insert, and each took a KEY SHARE lock on the
--    shared platform accounts' rows (a MultiXact per concurrent posting). What
--    they guaranteed still holds: rows enter ledger_entries only through
--    ledger_post, which refuses unknown accounts above and writes the entries
--    of the transaction row it has just written; transactions can never be
--    deleted (ledger_refuse_change) and now neither can accounts;
-- 7. its statements never plan a sequential scan (see SET below): the old
--    function's account check could keep one cached while the ledger grew,
--    which made payout runs super-linear in the number of partners.
CREATE OR REPLACE FUNCTION ledger_post(
  p_id text, p_key text, p_hash text, p_currency text, p_effective timestamptz,
  p_description text, p_source_kind text, p_source_id text, p_provider_object text,
  p_accounts bigint[], p_directions text[], p_amounts bigint[],
  p_bal_accounts bigint[], p_bal_slots smallint[], p_bal_deltas bigint[]
) RETURNS TABLE (transaction_id text, body_hash text, replayed boolean)
LANGUAGE plpgsql
-- Its statements touch a handful of rows by key. A connection plans them once (generic plans),
-- maybe while the ledger is small: without this a plan made then (a seq scan of ledger_accounts
-- for `id = ANY (...)`) stays as the ledger grows, and each posting reads every account.
SET enable_seqscan = off
AS $$
DECLARE
  busy smallint := pg_backend_pid() % 32;
  net numeric;
  wrong bigint;
  missing bigint;
  through timestamptz;
  done bigint[];
BEGIN
  SELECT (SELECT sum(CASE WHEN u.d = 'debit' THEN u.m WHEN u.d = 'credit' THEN -u.m END)
          FROM unnest(p_directions, p_amounts) AS u(d, m)),
         count(*) FILTER (WHERE a.currency <> p_currency),
         (SELECT count(DISTINCT x) FROM unnest(p_accounts) AS x) - count(*)
    INTO net, wrong, missing
  FROM ledger_accounts a WHERE a.id = ANY (p_accounts);
  IF coalesce(array_length(p_accounts, 1), 0) < 2 OR net IS DISTINCT FROM 0 THEN
    RAISE EXCEPTION 'ledger transaction % does not balance in its one currency', p_id
      USING ERRCODE = 'P0001', HINT = 'ledger_unbalanced';
  END IF;
  IF wrong > 0 OR missing > 0 THEN
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
  transaction_id := p_id;
  body_hash := p_hash;
  replayed := false;
  -- After the row: this posting now holds its lock on ledger_transactions, so a closing
  -- (SHARE lock) either committed before and is seen here, or waits for this commit.
  SELECT max(closed_through) INTO through FROM ledger_closings;
  IF through IS NOT NULL AND p_effective < through THEN
    RAISE EXCEPTION 'period closed through %: cannot post at %', through, p_effective
      USING ERRCODE = 'P0001', HINT = 'ledger_period_closed';
  END IF;
  INSERT INTO ledger_entries (transaction_id, account_id, direction, amount)
  SELECT p_id, u.a, u.d, u.m FROM unnest(p_accounts, p_directions, p_amounts) AS u(a, d, m);
  PERFORM set_config('ledger.posting', '', true);
  IF coalesce(array_length(p_bal_accounts, 1), 0) = 0 THEN
    RETURN NEXT;
    RETURN;
  END IF;
  -- ORDER BY is applied before the locks are taken: every posting locks balances in one order.
  -- The UPDATE, a statement of its own, then sees the rows' latest versions.
  -- (account_id = ANY: an index scan of the posting's own rows, whatever join the cached plan picks.)
  PERFORM 1 FROM ledger_balances b
  JOIN unnest(p_bal_accounts, p_bal_slots) AS u(a, s)
    ON b.account_id = u.a AND b.slot = CASE WHEN u.s < 0 THEN busy ELSE u.s END
  WHERE b.account_id = ANY (p_bal_accounts)
  ORDER BY b.account_id, b.slot FOR UPDATE OF b;
  WITH changed AS (
    UPDATE ledger_balances b SET balance = b.balance + u.d
    FROM unnest(p_bal_accounts, p_bal_slots, p_bal_deltas) AS u(a, s, d)
    WHERE b.account_id = u.a AND b.slot = CASE WHEN u.s < 0 THEN busy ELSE u.s END
      AND b.account_id = ANY (p_bal_accounts)
    RETURNING b.account_id)
  SELECT array_agg(account_id) INTO done FROM changed;
  IF coalesce(array_length(done, 1), 0) < array_length(p_bal_accounts, 1) THEN
    -- Only accounts that may overdraw use slots beyond 0 (slot 0 exists for every account):
    -- this connection's slot of such an account is made on its first use.
    INSERT INTO ledger_balances (account_id, slot, no_overdraft, balance)
    SELECT u.a, busy, false, u.d FROM unnest(p_bal_accounts, p_bal_slots, p_bal_deltas) AS u(a, s, d)
    WHERE u.s < 0 AND NOT (u.a = ANY (coalesce(done, '{}')))
    ON CONFLICT (account_id, slot) DO UPDATE SET balance = ledger_balances.balance + EXCLUDED.balance;
  END IF;
  RETURN NEXT;
END $$;

DROP TRIGGER ledger_transactions_open_period ON ledger_transactions;
DROP FUNCTION ledger_check_open_period();
DROP INDEX ledger_transactions_source_idx;
DROP INDEX ledger_entries_account_idx;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_transaction_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_account_id_fkey;
CREATE TRIGGER ledger_accounts_kept BEFORE DELETE ON ledger_accounts
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_accounts_no_truncate BEFORE TRUNCATE ON ledger_accounts
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
ALTER TABLE ledger_balances SET (fillfactor = 50);
