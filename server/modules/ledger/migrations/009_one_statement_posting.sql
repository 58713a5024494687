-- A posting is one statement inside ledger_post, every check kept (bench/ledger.ts: the
-- function's own cost was about three times the bare INSERT of the same rows):
-- 1. the checks, the transaction row, its entries and the cached balances are one
--    statement with data-modifying CTEs (were eight: the checks, two set_config calls,
--    the row, the period check, the entries, the lock, the update), each of which paid
--    executor start-up and a snapshot;
-- 2. the balance deltas are computed here from the entries (were passed in by the
--    caller and trusted), so cached balances follow the entries whoever calls;
--    no-overdraft accounts keep their whole balance in slot 0 and busy ones add to
--    this connection's slot, now 1 to 32 (was 0 to 31, so slot 0 rows of busy accounts
--    keep what they hold), chosen from the account row (was the caller's choice);
-- 3. the balances are written by one INSERT .. ON CONFLICT DO UPDATE in (account,
--    slot) order: the same lock order as before, so concurrent postings cannot
--    deadlock, and ON CONFLICT updates the latest committed version of each row
--    (READ COMMITTED), as the old lock-then-update pair did; a missing slot row is
--    created by the same statement;
-- 4. rows enter ledger_transactions and ledger_entries only while ledger_post runs
--    (ledger.posting is a SET of the function, no set_config statements);
-- 5. its plans are generic: the custom plans PostgreSQL otherwise chose each call
--    (arrays as parameters) were a quarter of a posting's time, spent planning.
-- The closed-period check reads ledger_closings in the statement that inserts into
-- ledger_transactions: its ROW EXCLUSIVE lock is taken before the statement's
-- snapshot, so a closing (SHARE lock) either committed before and is seen, or waits
-- for this posting. A replayed key still returns its transaction, closed period or not.
DROP FUNCTION ledger_post(text, text, text, text, timestamptz, text, text, text, text,
  bigint[], text[], bigint[], bigint[], smallint[], bigint[]);

CREATE FUNCTION ledger_post(
  p_id text, p_key text, p_hash text, p_currency text, p_effective timestamptz,
  p_description text, p_source_kind text, p_source_id text, p_provider_object text,
  p_accounts bigint[], p_directions text[], p_amounts bigint[]
) RETURNS TABLE (transaction_id text, body_hash text, replayed boolean)
LANGUAGE plpgsql
-- Its statement touches a handful of rows by key: never a sequential scan, even when a plan
-- was made while the ledger was small (see 007), and one generic plan per connection.
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
SET ledger.posting = 'on'
AS $$
DECLARE
  v_net numeric;
  v_entries bigint;
  v_wrong bigint;
  v_through timestamptz;
  v_written bigint;
  v_slotless bigint;
BEGIN
  WITH acc AS MATERIALIZED (
    -- One row per account of the posting: its currency (NULL when unknown), its flag and
    -- the change of its balance in its normal direction.
    SELECT u.a AS id, a.currency, a.no_overdraft,
           sum(CASE WHEN u.d = a.normal THEN u.m ELSE -u.m END) AS delta,
           sum(CASE WHEN u.d = 'debit' THEN u.m WHEN u.d = 'credit' THEN -u.m END) AS net,
           count(*) AS n
    FROM unnest(p_accounts, p_directions, p_amounts) AS u(a, d, m)
    LEFT JOIN ledger_accounts a ON a.id = u.a
    GROUP BY u.a, a.currency, a.no_overdraft),
  chk AS MATERIALIZED (
    SELECT sum(acc.net) AS net, sum(acc.n) AS n,
           count(*) FILTER (WHERE acc.currency IS DISTINCT FROM p_currency) AS wrong,
           (SELECT max(c.closed_through) FROM ledger_closings c) AS through
    FROM acc),
  t AS (
    INSERT INTO ledger_transactions (id, idempotency_key, body_hash, currency, effective_at, description,
      source_kind, source_id, provider_object_id)
    SELECT p_id, p_key, p_hash, p_currency, p_effective, p_description, p_source_kind, p_source_id, p_provider_object
    FROM chk WHERE chk.net = 0 AND chk.n >= 2 AND chk.wrong = 0
      AND (chk.through IS NULL OR p_effective >= chk.through)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id),
  e AS (
    INSERT INTO ledger_entries (transaction_id, account_id, direction, amount)
    SELECT t.id, u.a, u.d, u.m FROM t, unnest(p_accounts, p_directions, p_amounts) AS u(a, d, m)),
  -- Slot 0 is an account's own row, made with the account: the whole balance of a
  -- no-overdraft account, where the CHECK guards it. Busy accounts add to this
  -- connection's slot (1 to 32), made here on first use. PostgreSQL checks the proposed
  -- row before it looks for a conflict, so that row says no_overdraft = false; an existing
  -- row keeps its own flag and its CHECK guards the new sum. A slot-0 row made here (the
  -- account's own row was missing) is refused below.
  b AS (
    INSERT INTO ledger_balances AS b (account_id, slot, no_overdraft, balance)
    SELECT acc.id, CASE WHEN acc.no_overdraft THEN 0 ELSE 1 + pg_backend_pid() % 32 END, false, acc.delta
    FROM t, acc WHERE acc.delta <> 0
    ORDER BY 1, 2
    ON CONFLICT (account_id, slot) DO UPDATE SET balance = b.balance + EXCLUDED.balance
    RETURNING b.account_id, b.slot, b.no_overdraft)
  SELECT chk.net, chk.n, chk.wrong, chk.through, (SELECT count(*) FROM t),
         (SELECT min(b.account_id) FROM b WHERE b.slot = 0 AND NOT b.no_overdraft)
    INTO v_net, v_entries, v_wrong, v_through, v_written, v_slotless FROM chk;
  IF coalesce(v_entries, 0) < 2 OR v_net IS DISTINCT FROM 0 THEN
    RAISE EXCEPTION 'ledger transaction % does not balance in its one currency', p_id
      USING ERRCODE = 'P0001', HINT = 'ledger_unbalanced';
  END IF;
  IF v_wrong > 0 THEN
    RAISE EXCEPTION 'ledger transaction % uses accounts outside its one currency %', p_id, p_currency
      USING ERRCODE = 'P0001', HINT = 'ledger_unbalanced';
  END IF;
  IF v_written = 0 THEN
    -- A replayed key (whatever its date), or a new posting dated inside a closed period.
    RETURN QUERY SELECT t.id, t.body_hash, true FROM ledger_transactions t WHERE t.idempotency_key = p_key;
    IF FOUND THEN
      RETURN;
    END IF;
    IF v_through IS NOT NULL AND p_effective < v_through THEN
      RAISE EXCEPTION 'period closed through %: cannot post at %', v_through, p_effective
        USING ERRCODE = 'P0001', HINT = 'ledger_period_closed';
    END IF;
    RAISE EXCEPTION 'ledger transaction % was not written', p_id USING ERRCODE = 'P0001';
  END IF;
  IF v_slotless IS NOT NULL THEN
    RAISE EXCEPTION 'ledger account % has no balance row', v_slotless USING ERRCODE = 'P0001';
  END IF;
  transaction_id := p_id;
  body_hash := p_hash;
  replayed := false;
  RETURN NEXT;
END $$;
