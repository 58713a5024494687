-- Disputes: the amount disputed so far (open or lost) counts with refunds
-- when a charge is split again, and the part of a partner's line held by an
-- open dispute is neither released nor paid out.
ALTER TABLE ledger_charges ADD COLUMN disputed bigint NOT NULL DEFAULT 0 CHECK (disputed >= 0);
ALTER TABLE ledger_partner_lines ADD COLUMN held bigint NOT NULL DEFAULT 0 CHECK (held >= 0);

CREATE TABLE ledger_disputes (
  dispute_id text PRIMARY KEY,
  invoice_id text NOT NULL REFERENCES ledger_charges (invoice_id),
  provider text NOT NULL,
  currency text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  fee bigint NOT NULL CHECK (fee >= 0),
  -- open, won or lost.
  status text NOT NULL CHECK (status IN ('open', 'won', 'lost')),
  -- Each partner's share at the charge's rates: [{party, role, amount, held}], held = what came from its balance.
  split jsonb NOT NULL,
  opened_transaction_id text NOT NULL REFERENCES ledger_transactions (id),
  closed_transaction_id text REFERENCES ledger_transactions (id),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_disputes_invoice_idx ON ledger_disputes (invoice_id);
