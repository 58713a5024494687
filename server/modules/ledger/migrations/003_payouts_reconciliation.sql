-- Payout runs: one payout per partner and currency per run, its lines are the
-- invoices it pays (ledger_partner_lines.payout_id).
CREATE TABLE ledger_payout_runs (
  id text PRIMARY KEY,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  -- 'schedule' or the operator's user id.
  triggered_by text NOT NULL,
  partners_paid integer NOT NULL DEFAULT 0,
  partners_held integer NOT NULL DEFAULT 0,
  partners_below_minimum integer NOT NULL DEFAULT 0,
  error text
);

CREATE TABLE ledger_payouts (
  id text PRIMARY KEY,
  run_id text NOT NULL REFERENCES ledger_payout_runs (id),
  party text NOT NULL,
  currency text NOT NULL,
  -- What the invoice lines came to, what receivables took from it, and what was sent.
  gross bigint NOT NULL CHECK (gross >= 0),
  netted bigint NOT NULL DEFAULT 0 CHECK (netted >= 0),
  amount bigint NOT NULL CHECK (amount >= 0),
  state text NOT NULL CHECK (state IN ('processing', 'paid', 'failed')),
  failure text,
  destination text,
  created_at timestamptz NOT NULL DEFAULT now(),
  paid_at timestamptz
);
CREATE INDEX ledger_payouts_party_idx ON ledger_payouts (party, created_at DESC);
CREATE INDEX ledger_payouts_processing_idx ON ledger_payouts (created_at) WHERE state = 'processing';

-- Partners that could have been paid but were not, and why (latest per partner).
CREATE TABLE ledger_payout_holds (
  party text NOT NULL,
  currency text NOT NULL,
  reason text NOT NULL,
  amount bigint NOT NULL,
  run_id text NOT NULL,
  held_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (party, currency)
);

CREATE TABLE ledger_reconciliations (
  id text PRIMARY KEY,
  provider text NOT NULL,
  range_from timestamptz NOT NULL,
  range_to timestamptz NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  matched integer NOT NULL,
  -- [{ "objectId", "kind": "missing_in_ledger"|"missing_at_provider"|"amount_differs", "ledger", "provider", "currency" }]
  differences jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('clean', 'differences'))
);
CREATE INDEX ledger_reconciliations_started_idx ON ledger_reconciliations (started_at DESC);

-- Receivables netted from a line when it was paid out: the line is then worth
-- amount - refunded - netted.
ALTER TABLE ledger_partner_lines ADD COLUMN netted bigint NOT NULL DEFAULT 0 CHECK (netted >= 0);
