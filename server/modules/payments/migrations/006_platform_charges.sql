-- The platform charging its own customers (plugins: plans, credits), not app purchases.
-- One row per (owner, reference): a retried checkout or charge finds its first row.
CREATE TABLE payments_platform_charges (
  id text PRIMARY KEY,
  -- Who asked (`plugin:billing`); `reference` is unique within it.
  owner text NOT NULL,
  reference text NOT NULL,
  organization_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('checkout', 'saved_method')),
  amount bigint NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  description text NOT NULL,
  status text NOT NULL CHECK (status IN ('open', 'succeeded', 'failed')),
  provider text NOT NULL,
  checkout_session_id text UNIQUE,
  checkout_url text,
  provider_charge_id text,
  failure text,
  created_at timestamptz NOT NULL DEFAULT now(),
  settled_at timestamptz,
  UNIQUE (owner, reference)
);

-- The card an organization saved when it last paid the platform (for off-session charges).
CREATE TABLE payments_platform_methods (
  organization_id text PRIMARY KEY,
  provider text NOT NULL,
  customer_id text NOT NULL,
  payment_method_id text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
