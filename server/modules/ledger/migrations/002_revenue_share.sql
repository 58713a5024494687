-- The revenue-share schedule. A rule is never edited: a new rule with a later
-- effective date supersedes it, so a charge's split can always be explained.
CREATE TABLE ledger_share_rules (
  id text PRIMARY KEY,
  scope text NOT NULL CHECK (scope IN ('default', 'category', 'developer')),
  -- Category slug or developer organization id; '' for the default.
  target text NOT NULL DEFAULT '',
  effective_from timestamptz NOT NULL,
  -- [{ "upTo": "<minor units of lifetime revenue>" | null, "platformBps": 0..10000 }], ascending.
  tiers jsonb NOT NULL,
  -- The agency's part of the platform share, in basis points of that share.
  agency_bps integer NOT NULL DEFAULT 0 CHECK (agency_bps BETWEEN 0 AND 10000),
  note text,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (scope, target, effective_from)
);

-- The seeds' split: developers keep 75%.
INSERT INTO ledger_share_rules (id, scope, target, effective_from, tiers, note)
VALUES ('rsr_default', 'default', '', '2000-01-01T00:00:00Z', '[{"upTo": null, "platformBps": 2500}]',
        'Platform default: developers keep 75%');

-- Each recorded charge with how it was split and the rule that applied.
CREATE TABLE ledger_charges (
  invoice_id text PRIMARY KEY,
  transaction_id text NOT NULL REFERENCES ledger_transactions (id),
  provider text NOT NULL,
  provider_charge_id text NOT NULL,
  customer_org_id text NOT NULL,
  developer_org_id text NOT NULL,
  agency_org_id text,
  app_id text NOT NULL,
  category text,
  currency text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  processing_fee bigint NOT NULL CHECK (processing_fee >= 0),
  -- [{ "role": "platform"|"developer"|"agency", "party": ..., "amount": "<minor units>" }]
  parts jsonb NOT NULL,
  rule jsonb NOT NULL,
  rule_id text NOT NULL,
  charged_at timestamptz NOT NULL,
  settles_at timestamptz NOT NULL,
  refunded bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount)
);
CREATE INDEX ledger_charges_developer_idx ON ledger_charges (developer_org_id, charged_at);
CREATE INDEX ledger_charges_agency_idx ON ledger_charges (agency_org_id, charged_at) WHERE agency_org_id IS NOT NULL;
CREATE INDEX ledger_charges_charged_idx ON ledger_charges (charged_at);

-- A partner's share of one invoice, and where it is on its way to the partner.
CREATE TABLE ledger_partner_lines (
  id text PRIMARY KEY,
  invoice_id text NOT NULL REFERENCES ledger_charges (invoice_id),
  party text NOT NULL,
  role text NOT NULL CHECK (role IN ('developer', 'agency')),
  currency text NOT NULL,
  amount bigint NOT NULL CHECK (amount >= 0),
  refunded bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
  -- pending (payout terms running), available, in_payout, paid.
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'available', 'in_payout', 'paid')),
  available_at timestamptz NOT NULL,
  payout_id text,
  -- What the payout transferred for this line, after netting receivables.
  paid_amount bigint,
  transfer_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (invoice_id, party)
);
CREATE INDEX ledger_partner_lines_due_idx ON ledger_partner_lines (available_at) WHERE state = 'pending';
CREATE INDEX ledger_partner_lines_party_idx ON ledger_partner_lines (party, state, available_at);
CREATE INDEX ledger_partner_lines_payout_idx ON ledger_partner_lines (payout_id) WHERE payout_id IS NOT NULL;

-- Lifetime gross per developer and currency: the tiers of the schedule count it.
CREATE TABLE ledger_partner_totals (
  party text NOT NULL,
  currency text NOT NULL,
  lifetime_gross bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (party, currency)
);

-- Per-partner payout terms (default net-15).
CREATE TABLE ledger_partner_terms (
  party text PRIMARY KEY,
  net_days integer NOT NULL CHECK (net_days IN (15, 30)),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_refunds (
  refund_id text PRIMARY KEY,
  invoice_id text NOT NULL REFERENCES ledger_charges (invoice_id),
  transaction_id text NOT NULL REFERENCES ledger_transactions (id),
  provider_refund_id text NOT NULL,
  currency text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  fee_returned bigint NOT NULL DEFAULT 0,
  split jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_refunds_invoice_idx ON ledger_refunds (invoice_id);
