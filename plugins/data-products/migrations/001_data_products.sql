-- Data products: privacy-preserving aggregate datasets built from the
-- activity of accounts that opted in. Only this plugin reads these tables.

-- What an account declares to be put in a cohort (one vertical, one region).
CREATE TABLE data_products_profiles (
  organization_id text PRIMARY KEY,
  vertical text NOT NULL,
  region text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Opt-ins per account and product. No row means out (the default).
CREATE TABLE data_products_opt_ins (
  product text NOT NULL,
  organization_id text NOT NULL,
  opted_in_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (product, organization_id)
);
CREATE INDEX data_products_opt_ins_org_idx ON data_products_opt_ins (organization_id);

-- Per-account inputs, one row per core event, recorded only while the account
-- is opted in to a product of that source and deleted when it no longer is.
-- Only the refresh reads them; no route does.
CREATE TABLE data_products_inputs (
  event_id text PRIMARY KEY,
  organization_id text NOT NULL,
  source text NOT NULL,
  occurred_at timestamptz NOT NULL
);
CREATE INDEX data_products_inputs_source_idx ON data_products_inputs (source, occurred_at);
CREATE INDEX data_products_inputs_org_idx ON data_products_inputs (organization_id, source);

-- The materialized cohort cells of one product and period, as of the last
-- refresh: exact, cohort-level figures of the cells that passed k and the
-- dominance rule (never returned as they are: a release adds noise).
CREATE TABLE data_products_periods (
  product text NOT NULL,
  period_start date NOT NULL,
  cells jsonb NOT NULL,
  -- Changes when the cells do; a release is valid for one hash.
  cells_hash text NOT NULL,
  suppressed integer NOT NULL,
  refreshed_at timestamptz NOT NULL,
  PRIMARY KEY (product, period_start)
);

-- The ε budget ledger: what each product and period has spent, in thousandths.
CREATE TABLE data_products_budgets (
  product text NOT NULL,
  period_start date NOT NULL,
  spent_milli integer NOT NULL DEFAULT 0,
  budget_milli integer NOT NULL,
  CHECK (spent_milli <= budget_milli),
  PRIMARY KEY (product, period_start)
);

-- Noisy releases: what apps and contributing accounts read. One per product,
-- period and state of the cells; each one's ε is in the budget above.
CREATE TABLE data_products_releases (
  id text PRIMARY KEY,
  product text NOT NULL,
  period_start date NOT NULL,
  cells_hash text NOT NULL,
  epsilon_milli integer NOT NULL,
  cells jsonb NOT NULL,
  released_at timestamptz NOT NULL DEFAULT now(),
  -- Who asked first (app id, organization id or operator user id), for the ledger.
  requested_by text NOT NULL,
  UNIQUE (product, period_start, cells_hash)
);

-- Answered app queries: what each app owes per product (metered usage).
CREATE TABLE data_products_usage (
  id text PRIMARY KEY,
  product text NOT NULL,
  app_id text NOT NULL,
  installation_id text NOT NULL,
  account_id text NOT NULL,
  release_id text NOT NULL,
  amount bigint NOT NULL,
  currency text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX data_products_usage_product_idx ON data_products_usage (product, app_id, created_at);
