-- A refund of a paid invoice (full or partial), by the operator or the app's developer.
CREATE TABLE payments_refunds (
  id text PRIMARY KEY,
  invoice_id text NOT NULL REFERENCES payments_invoices (id),
  account_id text NOT NULL,
  app_id text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  reason text,
  status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  provider_refund_id text,
  -- Transfers taken back from partners first: [{ partner, transferId, reversalId, amount }]
  -- and those that could not be (the partner was paid out; a receivable netted from the next payouts).
  reversals jsonb NOT NULL DEFAULT '[]',
  unreversed jsonb NOT NULL DEFAULT '[]',
  failure text,
  requested_by text,
  requested_via text NOT NULL CHECK (requested_via IN ('operator', 'developer')),
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz
);
CREATE INDEX payments_refunds_invoice ON payments_refunds (invoice_id);
CREATE INDEX payments_refunds_pending ON payments_refunds (created_at) WHERE status = 'pending';

-- A customer's dispute of a charge, as the provider reports it.
CREATE TABLE payments_disputes (
  id text PRIMARY KEY,
  invoice_id text REFERENCES payments_invoices (id),
  provider_charge_id text NOT NULL,
  amount bigint NOT NULL,
  currency text NOT NULL,
  reason text,
  status text NOT NULL,
  opened_at timestamptz NOT NULL DEFAULT now(),
  closed_at timestamptz
);
