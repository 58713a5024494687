-- A partner organization's connected payout account and its last known state.
CREATE TABLE payments_payout_accounts (
  organization_id text PRIMARY KEY,
  provider text NOT NULL,
  provider_account_id text NOT NULL UNIQUE,
  transfers_active boolean NOT NULL DEFAULT false,
  payouts_enabled boolean NOT NULL DEFAULT false,
  charges_enabled boolean NOT NULL DEFAULT false,
  details_submitted boolean NOT NULL DEFAULT false,
  currently_due text[] NOT NULL DEFAULT '{}',
  past_due text[] NOT NULL DEFAULT '{}',
  deadline timestamptz,
  disabled_reason text,
  -- When the state above was last read from the provider.
  synced_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Every provider event processed, so a redelivered one has no second effect.
CREATE TABLE payments_provider_events (
  provider text NOT NULL,
  event_id text NOT NULL,
  type text NOT NULL,
  object_id text,
  account text,
  created_at timestamptz NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, event_id)
);

-- The sandbox provider's own objects (accounts, links, checkout sessions, charges,
-- transfers, refunds, balance transactions), as Stripe would keep them.
CREATE TABLE payments_sandbox_objects (
  id text PRIMARY KEY,
  kind text NOT NULL,
  data jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX payments_sandbox_objects_kind ON payments_sandbox_objects (kind, created_at);
