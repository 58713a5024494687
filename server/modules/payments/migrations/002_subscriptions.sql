-- What an account pays for an app: one open subscription per account and app.
CREATE TABLE payments_subscriptions (
  id text PRIMARY KEY,
  account_id text NOT NULL,
  app_id text NOT NULL,
  version_id text NOT NULL,
  developer_org_id text NOT NULL,
  -- The sub-account's agency (it gets a part of the platform share), and the app's category then.
  agency_org_id text,
  category text,
  -- The price the customer agreed to (the version's pricing at install time).
  pricing jsonb NOT NULL,
  currency text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending_payment', 'trialing', 'active', 'past_due', 'canceled')),
  provider text NOT NULL,
  customer_id text,
  payment_method_id text,
  -- Usage-priced apps: the Checkout that saves the card.
  setup_session_id text UNIQUE,
  trial_end timestamptz,
  current_period_start timestamptz,
  current_period_end timestamptz,
  -- Most the customer pays for usage in one period, minor units (what they approved).
  usage_cap bigint,
  canceled_at timestamptz,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX payments_subscriptions_open ON payments_subscriptions (account_id, app_id) WHERE status <> 'canceled';
CREATE INDEX payments_subscriptions_due ON payments_subscriptions (current_period_end)
  WHERE status IN ('trialing', 'active', 'past_due');

-- One charge asked of the customer: the first payment, a renewal, or a period's usage.
CREATE TABLE payments_invoices (
  id text PRIMARY KEY,
  subscription_id text NOT NULL REFERENCES payments_subscriptions (id),
  account_id text NOT NULL,
  app_id text NOT NULL,
  developer_org_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('initial', 'renewal', 'usage')),
  amount bigint NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  period_start timestamptz,
  period_end timestamptz,
  status text NOT NULL CHECK (status IN ('open', 'paid', 'failed', 'void')),
  checkout_session_id text UNIQUE,
  checkout_url text,
  provider_charge_id text UNIQUE,
  processing_fee bigint,
  failure text,
  paid_at timestamptz,
  amount_refunded bigint NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (subscription_id, kind, period_start)
);
CREATE INDEX payments_invoices_account ON payments_invoices (account_id, created_at);

-- Usage an app reported, once per key of the app's own.
CREATE TABLE payments_usage (
  subscription_id text NOT NULL REFERENCES payments_subscriptions (id),
  idempotency_key text NOT NULL,
  quantity integer NOT NULL CHECK (quantity > 0),
  period_start timestamptz NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (subscription_id, idempotency_key)
);
CREATE INDEX payments_usage_period ON payments_usage (subscription_id, period_start);
