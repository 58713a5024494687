-- Billing: meters and usage, credit wallets, plans, subscriptions, invoices.
-- Money is bigint minor units; usage values and credits are bigint units. Never floats.

-- Metering ---------------------------------------------------------------------------------

CREATE TABLE billing_meters (
  id text PRIMARY KEY,
  key text NOT NULL UNIQUE,
  name text NOT NULL,
  aggregation text NOT NULL CHECK (aggregation IN ('count', 'sum', 'max', 'unique_count', 'latest')),
  unit text NOT NULL DEFAULT 'unit',
  -- A core event type that feeds this meter, one unit per event (e.g. contact.created).
  core_event text,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per accepted event: the primary key is the idempotency key, per account.
CREATE TABLE billing_events (
  account_id text NOT NULL,
  transaction_id text NOT NULL,
  meter_id text NOT NULL REFERENCES billing_meters (id),
  value bigint NOT NULL,
  unique_key text,
  occurred_at timestamptz NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, transaction_id)
);

-- Per account, meter and UTC day, maintained in the statement that inserts the events, so
-- reading a period's usage reads at most one row per day whatever the number of events.
-- Periods start at UTC midnight, so a period is a whole number of these days.
CREATE TABLE billing_usage_daily (
  account_id text NOT NULL,
  meter_id text NOT NULL REFERENCES billing_meters (id),
  day date NOT NULL,
  events bigint NOT NULL,
  total bigint NOT NULL,
  max_value bigint NOT NULL,
  -- LATEST: the value of the event with the greatest (occurred_at, transaction_id), so the
  -- result does not depend on the order in which events arrive.
  latest_at timestamptz NOT NULL,
  latest_tid text NOT NULL,
  latest_value bigint NOT NULL,
  PRIMARY KEY (account_id, meter_id, day)
);

-- UNIQUE COUNT meters: the distinct keys seen per day; a period counts DISTINCT over its days.
CREATE TABLE billing_usage_uniques (
  account_id text NOT NULL,
  meter_id text NOT NULL REFERENCES billing_meters (id),
  day date NOT NULL,
  unique_key text NOT NULL,
  PRIMARY KEY (account_id, meter_id, day, unique_key)
);

-- Credits ----------------------------------------------------------------------------------

-- One row per account that ever had credits: the lock every balance change takes first.
CREATE TABLE billing_wallets (
  account_id text PRIMARY KEY,
  low_balance_notified boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Credits come in grants (promotions, top-ups, plan allowances), spent soonest-expiring first.
CREATE TABLE billing_credit_grants (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES billing_wallets (account_id),
  source text NOT NULL CHECK (source IN ('grant', 'top_up')),
  amount bigint NOT NULL CHECK (amount > 0),
  remaining bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
  expires_at timestamptz,
  -- What made it (an operator's key, a top-up id): one grant per reference.
  reference text NOT NULL,
  description text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (account_id, reference)
);
CREATE INDEX billing_credit_grants_spendable ON billing_credit_grants (account_id, expires_at) WHERE remaining > 0;

-- A deduction (committed at once) or a reservation (reserved, then committed, voided or expired).
CREATE TABLE billing_credit_debits (
  id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES billing_wallets (account_id),
  idempotency_key text NOT NULL,
  amount bigint NOT NULL CHECK (amount > 0),
  committed bigint CHECK (committed >= 0 AND committed <= amount),
  status text NOT NULL CHECK (status IN ('reserved', 'committed', 'voided', 'expired')),
  description text,
  app_id text,
  expires_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  settled_at timestamptz,
  UNIQUE (account_id, idempotency_key)
);
CREATE INDEX billing_credit_debits_held ON billing_credit_debits (expires_at) WHERE status = 'reserved';

-- Which grants a debit took from, so a void or an expiry gives each grant back what it gave.
CREATE TABLE billing_credit_allocations (
  debit_id text NOT NULL REFERENCES billing_credit_debits (id),
  grant_id text NOT NULL REFERENCES billing_credit_grants (id),
  -- 0 for a moment while a debit gives back what it took (the row is then deleted).
  amount bigint NOT NULL CHECK (amount >= 0),
  PRIMARY KEY (debit_id, grant_id)
);

-- Top-ups bought through payments: credited once, when the charge succeeds.
CREATE TABLE billing_top_ups (
  id text PRIMARY KEY,
  account_id text NOT NULL,
  credits bigint NOT NULL CHECK (credits > 0),
  amount bigint NOT NULL CHECK (amount > 0),
  currency text NOT NULL,
  status text NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
  created_at timestamptz NOT NULL DEFAULT now(),
  paid_at timestamptz
);

-- Plans ------------------------------------------------------------------------------------

CREATE TABLE billing_plans (
  id text PRIMARY KEY,
  key text NOT NULL UNIQUE,
  name text NOT NULL,
  -- The plan a lapsed trial or a cancellation falls back to, and the floor of degradation.
  is_free boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX billing_plans_one_free ON billing_plans (is_free) WHERE is_free;

-- Versions never change: a subscriber pays its version until it moves.
CREATE TABLE billing_plan_versions (
  id text PRIMARY KEY,
  plan_id text NOT NULL REFERENCES billing_plans (id),
  version integer NOT NULL,
  currency text NOT NULL,
  price_month bigint NOT NULL CHECK (price_month >= 0),
  price_year bigint NOT NULL CHECK (price_year >= 0),
  trial_days integer NOT NULL CHECK (trial_days BETWEEN 0 AND 365),
  -- { contacts: n|null, seats: n|null, installations: n|null }: null is unlimited.
  features jsonb NOT NULL,
  -- [{ meter, included, price: { model, ... } }]
  meters jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (plan_id, version)
);

-- Subscriptions ----------------------------------------------------------------------------

CREATE TABLE billing_subscriptions (
  id text PRIMARY KEY,
  organization_id text NOT NULL UNIQUE,
  plan_version_id text NOT NULL REFERENCES billing_plan_versions (id),
  billing_interval text NOT NULL CHECK (billing_interval IN ('month', 'year')),
  status text NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'degraded', 'canceled')),
  period_start timestamptz NOT NULL,
  period_end timestamptz NOT NULL CHECK (period_end > period_start),
  trial_end timestamptz,
  trial_used boolean NOT NULL DEFAULT false,
  cancel_at_period_end boolean NOT NULL DEFAULT false,
  -- Dunning: when the first payment failed, how many retries ran, until when the plan stays whole.
  past_due_since timestamptz,
  retries_done integer NOT NULL DEFAULT 0,
  grace_until timestamptz,
  -- Money the platform owes the subscriber (a downgrade's proration), taken off the next invoice.
  credit_balance bigint NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Reminders and retries already sent, so a job that runs twice sends once.
CREATE TABLE billing_notices (
  organization_id text NOT NULL,
  key text NOT NULL,
  sent_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, key)
);

-- Invoices ---------------------------------------------------------------------------------

CREATE TABLE billing_invoice_counters (
  issuer text PRIMARY KEY,
  last_number bigint NOT NULL
);

CREATE TABLE billing_invoices (
  id text PRIMARY KEY,
  organization_id text NOT NULL,
  subscription_id text REFERENCES billing_subscriptions (id),
  issuer text NOT NULL,
  -- Given at finalization from the issuer's counter: sequential without gaps.
  number text,
  kind text NOT NULL CHECK (kind IN ('period', 'change')),
  status text NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void')),
  currency text NOT NULL,
  period_start timestamptz NOT NULL,
  period_end timestamptz NOT NULL,
  -- The usage period whose overage this invoice bills (the period before the fee's).
  usage_start timestamptz,
  usage_end timestamptz,
  -- The plan version whose included usage and overage prices apply to the usage period.
  plan_version_id text REFERENCES billing_plan_versions (id),
  total bigint,
  payment_attempts integer NOT NULL DEFAULT 0,
  last_failure text,
  created_at timestamptz NOT NULL DEFAULT now(),
  finalized_at timestamptz,
  paid_at timestamptz,
  UNIQUE (issuer, number),
  CHECK ((status = 'draft') = (number IS NULL))
);
-- A usage period is billed once.
CREATE UNIQUE INDEX billing_invoices_one_per_usage ON billing_invoices (subscription_id, usage_start) WHERE usage_start IS NOT NULL;
CREATE INDEX billing_invoices_org ON billing_invoices (organization_id, created_at DESC);

CREATE TABLE billing_invoice_lines (
  invoice_id text NOT NULL REFERENCES billing_invoices (id),
  position integer NOT NULL,
  kind text NOT NULL CHECK (kind IN ('subscription', 'overage', 'credits', 'proration', 'credit_applied', 'tax')),
  description text NOT NULL,
  meter text,
  quantity bigint,
  amount bigint NOT NULL,
  PRIMARY KEY (invoice_id, position)
);

-- Finalized invoices are immutable: only the move open -> paid / void (and its bookkeeping) is allowed.
CREATE FUNCTION billing_invoice_guard() RETURNS trigger AS $$
BEGIN
  IF OLD.status <> 'draft' AND (
       NEW.number IS DISTINCT FROM OLD.number OR NEW.total IS DISTINCT FROM OLD.total
    OR NEW.currency IS DISTINCT FROM OLD.currency OR NEW.organization_id IS DISTINCT FROM OLD.organization_id
    OR NEW.period_start IS DISTINCT FROM OLD.period_start OR NEW.period_end IS DISTINCT FROM OLD.period_end
    OR NEW.issuer IS DISTINCT FROM OLD.issuer OR NEW.finalized_at IS DISTINCT FROM OLD.finalized_at
    OR (OLD.status IN ('paid', 'void') AND NEW.status IS DISTINCT FROM OLD.status)) THEN
    RAISE EXCEPTION 'billing invoice % is finalized and cannot change', OLD.id;
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_invoice_guard BEFORE UPDATE ON billing_invoices
  FOR EACH ROW EXECUTE FUNCTION billing_invoice_guard();

CREATE FUNCTION billing_invoice_lines_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND (SELECT status FROM billing_invoices WHERE id = OLD.invoice_id) <> 'draft' THEN
    RAISE EXCEPTION 'lines of a finalized billing invoice cannot change';
  END IF;
  IF TG_OP <> 'DELETE' AND (SELECT status FROM billing_invoices WHERE id = NEW.invoice_id) <> 'draft' THEN
    RAISE EXCEPTION 'lines of a finalized billing invoice cannot change';
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER billing_invoice_lines_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_invoice_lines
  FOR EACH ROW EXECUTE FUNCTION billing_invoice_lines_guard();
