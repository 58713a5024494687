-- The double-entry ledger. Amounts are bigint minor units, always > 0; the
-- entry's direction says which way the money moves.

CREATE TABLE ledger_accounts (
  id bigserial PRIMARY KEY,
  kind text NOT NULL,
  -- Organization id or provider name; '' for platform-wide accounts.
  party text NOT NULL DEFAULT '',
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  normal text NOT NULL CHECK (normal IN ('debit', 'credit')),
  no_overdraft boolean NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kind, party, currency)
);

-- Cached balances, in the account's normal direction. Busy platform-wide
-- accounts are spread over several slots so concurrent postings do not queue
-- on one row; an account's balance is the sum of its slots. No-overdraft
-- accounts have exactly one slot, so the CHECK below guards the whole balance
-- inside the posting's own transaction.
CREATE TABLE ledger_balances (
  account_id bigint NOT NULL REFERENCES ledger_accounts (id),
  slot smallint NOT NULL,
  no_overdraft boolean NOT NULL,
  balance bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, slot),
  CONSTRAINT ledger_balances_no_overdraft CHECK (NOT no_overdraft OR balance >= 0)
);

CREATE TABLE ledger_transactions (
  id text PRIMARY KEY,
  idempotency_key text NOT NULL UNIQUE,
  -- sha256 of the canonical request body: a replay with another body is a conflict.
  body_hash text NOT NULL,
  currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
  effective_at timestamptz NOT NULL,
  posted_at timestamptz NOT NULL DEFAULT now(),
  description text NOT NULL,
  source_kind text NOT NULL,
  source_id text NOT NULL,
  provider_object_id text
);
CREATE INDEX ledger_transactions_source_idx ON ledger_transactions (source_kind, source_id);
CREATE INDEX ledger_transactions_effective_idx ON ledger_transactions (effective_at);
CREATE INDEX ledger_transactions_provider_idx ON ledger_transactions (provider_object_id)
  WHERE provider_object_id IS NOT NULL;

CREATE TABLE ledger_entries (
  id bigserial PRIMARY KEY,
  transaction_id text NOT NULL REFERENCES ledger_transactions (id),
  account_id bigint NOT NULL REFERENCES ledger_accounts (id),
  direction text NOT NULL CHECK (direction IN ('debit', 'credit')),
  amount bigint NOT NULL CHECK (amount > 0)
);
CREATE INDEX ledger_entries_tx_idx ON ledger_entries (transaction_id);
CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, id);

-- Closed periods: nothing may be posted with an effective date before
-- the latest closed_through.
CREATE TABLE ledger_closings (
  closed_through timestamptz PRIMARY KEY,
  closed_at timestamptz NOT NULL DEFAULT now(),
  closed_by text
);

-- Entries and transactions are written once; corrections are reversing transactions.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger % rows are immutable: post a reversing transaction instead', TG_TABLE_NAME
    USING ERRCODE = 'P0001', HINT = 'ledger_immutable';
END $$;
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_immutable BEFORE UPDATE OR DELETE ON ledger_transactions
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_transactions_no_truncate BEFORE TRUNCATE ON ledger_transactions
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

-- A closed period is sealed. Closing takes a SHARE lock on ledger_transactions,
-- so it waits for postings in flight and postings wait for it.
CREATE FUNCTION ledger_check_open_period() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE through timestamptz;
BEGIN
  SELECT max(closed_through) INTO through FROM ledger_closings;
  IF through IS NOT NULL AND NEW.effective_at < through THEN
    RAISE EXCEPTION 'period closed through %: cannot post at %', through, NEW.effective_at
      USING ERRCODE = 'P0001', HINT = 'ledger_period_closed';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ledger_transactions_open_period BEFORE INSERT ON ledger_transactions
  FOR EACH ROW EXECUTE FUNCTION ledger_check_open_period();

-- Every transaction written by a statement balances, has two entries or more,
-- and uses only accounts of its own currency. Checked once per statement.
CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE bad text;
BEGIN
  SELECT n.transaction_id INTO bad
  FROM new_entries n
  JOIN ledger_accounts a ON a.id = n.account_id
  JOIN ledger_transactions t ON t.id = n.transaction_id
  GROUP BY n.transaction_id
  HAVING sum(CASE WHEN n.direction = 'debit' THEN n.amount ELSE -n.amount END) <> 0
      OR count(*) < 2
      OR bool_or(a.currency <> t.currency)
  LIMIT 1;
  IF bad IS NOT NULL THEN
    RAISE EXCEPTION 'ledger transaction % does not balance in its one currency', bad
      USING ERRCODE = 'P0001', HINT = 'ledger_unbalanced';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER ledger_entries_balanced AFTER INSERT ON ledger_entries
  REFERENCING NEW TABLE AS new_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_check_balanced();

-- One round trip per posting: the transaction row (or the existing one for a
-- replayed key), its entries, and the cached balances, locked in account
-- order so that concurrent postings cannot deadlock.
CREATE FUNCTION ledger_post(
  p_id text, p_key text, p_hash text, p_currency text, p_effective timestamptz,
  p_description text, p_source_kind text, p_source_id text, p_provider_object text,
  p_accounts bigint[], p_directions text[], p_amounts bigint[],
  p_bal_accounts bigint[], p_bal_slots smallint[], p_bal_deltas bigint[]
) RETURNS TABLE (transaction_id text, body_hash text, replayed boolean)
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO ledger_transactions (id, idempotency_key, body_hash, currency, effective_at, description,
    source_kind, source_id, provider_object_id)
  VALUES (p_id, p_key, p_hash, p_currency, p_effective, p_description, p_source_kind, p_source_id, p_provider_object)
  ON CONFLICT (idempotency_key) DO NOTHING;
  IF NOT FOUND THEN
    RETURN QUERY SELECT t.id, t.body_hash, true FROM ledger_transactions t WHERE t.idempotency_key = p_key;
    RETURN;
  END IF;
  INSERT INTO ledger_entries (transaction_id, account_id, direction, amount)
  SELECT p_id, u.a, u.d, u.m FROM unnest(p_accounts, p_directions, p_amounts) AS u(a, d, m);
  FOR i IN 1 .. coalesce(array_length(p_bal_accounts, 1), 0) LOOP
    UPDATE ledger_balances SET balance = balance + p_bal_deltas[i]
    WHERE account_id = p_bal_accounts[i] AND slot = p_bal_slots[i];
  END LOOP;
  RETURN QUERY SELECT p_id, p_hash, false;
END $$;
