-- A cheaper posting, every check kept (bench/ledger.ts: a posting's PostgreSQL time was
-- about twice the bare INSERT of the same rows; most of the difference is per-statement
-- set-up, so what goes is work done on every posting that nothing needs):
-- 1. ledger_entries keeps one index, its primary key on (transaction_id, id), instead of
--    a primary key on id and an index on transaction_id: every reader finds entries by
--    their transaction (and orders them by id), none by id alone; one index entry per
--    entry instead of two;
-- 2. ledger_transactions_effective_idx is a BRIN index: only reconciliation reads by
--    effective_at (a range of days), rows arrive roughly in effective order, and a BRIN
--    index costs a posting nothing until its page range is summarized (autosummarize);
-- 3. ledger_post does its usual work in one RETURN QUERY: the statement's own last
--    SELECT returns the posted row, so a posting runs no PL/pgSQL expression of its own
--    (each was compiled again in every transaction). The refusals are worked out only
--    when that statement returned nothing: a replayed key, a posting that does not
--    balance or uses another currency's or an unknown account (nothing was written), a
--    closed period (nothing written), or a missing slot-0 row (written, then refused,
--    which rolls the statement back). They are checked in the same order as before.
-- Unchanged: balances are computed from the entries here and written by one INSERT ..
-- ON CONFLICT DO UPDATE in (account, slot) order, so concurrent postings cannot
-- deadlock; the closed-period check reads ledger_closings in the statement that inserts
-- into ledger_transactions (see 009); rows enter ledger_transactions and ledger_entries
-- only while ledger_post runs (010).
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_pkey,
  ADD CONSTRAINT ledger_entries_pkey PRIMARY KEY (transaction_id, id);
DROP INDEX ledger_entries_tx_idx;
DROP INDEX ledger_transactions_effective_idx;
-- Redundant: a transaction is written only when its accounts (CHECKed the same way) all have its currency.
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_currency_check;
CREATE INDEX ledger_transactions_effective_idx ON ledger_transactions USING brin (effective_at)
  WITH (autosummarize = on);

CREATE OR REPLACE FUNCTION ledger_post(
  p_id text, p_key text, p_hash text, p_currency text, p_effective timestamptz,
  p_description text, p_source_kind text, p_source_id text, p_provider_object text,
  p_accounts bigint[], p_directions text[], p_amounts bigint[]
) RETURNS TABLE (transaction_id text, body_hash text, replayed boolean)
LANGUAGE plpgsql
-- Its statements touch a handful of rows by key: never a sequential scan, even when a plan
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
  v_slotless bigint;
BEGIN
  RETURN QUERY
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
  t AS (
    INSERT INTO ledger_transactions (id, idempotency_key, body_hash, currency, effective_at, description,
      source_kind, source_id, provider_object_id)
    SELECT p_id, p_key, p_hash, p_currency, p_effective, p_description, p_source_kind, p_source_id, p_provider_object
    FROM (SELECT sum(acc.net) AS net, sum(acc.n) AS n,
                 count(*) FILTER (WHERE acc.currency IS DISTINCT FROM p_currency) AS wrong
          FROM acc) chk
    WHERE chk.net = 0 AND chk.n >= 2 AND chk.wrong = 0
      AND NOT EXISTS (SELECT FROM ledger_closings c WHERE c.closed_through > p_effective)
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
  -- account's own row was missing) keeps the posting from being returned: refused below.
  b AS (
    INSERT INTO ledger_balances AS b (account_id, slot, no_overdraft, balance)
    SELECT acc.id, CASE WHEN acc.no_overdraft THEN 0 ELSE 1 + pg_backend_pid() % 32 END, false, acc.delta
    FROM t, acc WHERE acc.delta <> 0
    ORDER BY 1, 2
    ON CONFLICT (account_id, slot) DO UPDATE SET balance = b.balance + EXCLUDED.balance
    RETURNING b.account_id, b.slot, b.no_overdraft)
  SELECT t.id, p_hash, false FROM t
  WHERE NOT EXISTS (SELECT FROM b WHERE b.slot = 0 AND NOT b.no_overdraft);
  IF FOUND THEN
    RETURN;
  END IF;
  -- Nothing returned: find out why, in the order the checks were always made.
  IF EXISTS (SELECT FROM ledger_transactions t WHERE t.id = p_id) THEN
    SELECT min(a.id) INTO v_slotless FROM ledger_accounts a
    JOIN ledger_balances b ON b.account_id = a.id AND b.slot = 0
    WHERE a.id = ANY (p_accounts) AND a.no_overdraft AND NOT b.no_overdraft;
    RAISE EXCEPTION 'ledger account % has no balance row', v_slotless USING ERRCODE = 'P0001';
  END IF;
  SELECT sum(CASE WHEN u.d = 'debit' THEN u.m WHEN u.d = 'credit' THEN -u.m END), count(*),
         count(*) FILTER (WHERE a.currency IS DISTINCT FROM p_currency)
    INTO v_net, v_entries, v_wrong
  FROM unnest(p_accounts, p_directions, p_amounts) AS u(a, d, m)
  LEFT JOIN ledger_accounts a ON a.id = u.a;
  IF v_entries < 2 OR v_net IS DISTINCT FROM 0 THEN
    RAISE EXCEPTION 'ledger transaction % does not balance in its one currency', p_id
      USING ERRCODE = 'P0001', HINT = 'ledger_unbalanced';
  END IF;
  IF v_wrong > 0 THEN
    RAISE EXCEPTION 'ledger transaction % uses accounts outside its one currency %', p_id, p_currency
      USING ERRCODE = 'P0001', HINT = 'ledger_unbalanced';
  END IF;
  -- A replayed key (whatever its date), or a new posting dated inside a closed period.
  RETURN QUERY SELECT t.id, t.body_hash, true FROM ledger_transactions t WHERE t.idempotency_key = p_key;
  IF FOUND THEN
    RETURN;
  END IF;
  SELECT max(c.closed_through) INTO v_through FROM ledger_closings c;
  IF v_through IS NOT NULL AND p_effective < v_through THEN
    RAISE EXCEPTION 'period closed through %: cannot post at %', v_through, p_effective
      USING ERRCODE = 'P0001', HINT = 'ledger_period_closed';
  END IF;
  RAISE EXCEPTION 'ledger transaction % was not written', p_id USING ERRCODE = 'P0001';
END $$;
