-- Rollups behind the dashboards, kept by the analytics subscriber from committed
-- events (and from counters other modules expose). Dashboards read only these
-- tables (and owners' reads), never the raw event or installation tables.
-- Days are UTC dates.

-- Events already counted: delivery is at least once, so each event is applied
-- in the same transaction that records its id here, and a redelivery is a no-op.
CREATE TABLE analytics_seen (
  event_id text PRIMARY KEY
);

-- Installs and uninstalls per app and day.
CREATE TABLE analytics_app_days (
  app_id text NOT NULL,
  day date NOT NULL,
  installs int NOT NULL DEFAULT 0,
  uninstalls int NOT NULL DEFAULT 0,
  PRIMARY KEY (app_id, day)
);
CREATE INDEX analytics_app_days_day_idx ON analytics_app_days (day);

-- Why installations closed, per app and day.
CREATE TABLE analytics_uninstall_reasons (
  app_id text NOT NULL,
  day date NOT NULL,
  reason text NOT NULL,
  count int NOT NULL DEFAULT 0,
  PRIMARY KEY (app_id, day, reason)
);

-- One row per installation seen (install cohorts, installs per sub-account).
-- Small next to the events: one row per installation, not per event.
CREATE TABLE analytics_installations (
  installation_id text PRIMARY KEY,
  app_id text NOT NULL,
  account_id text NOT NULL,
  installed_on date NOT NULL,
  uninstalled_on date
);
CREATE INDEX analytics_installations_app_idx ON analytics_installations (app_id, installed_on);
CREATE INDEX analytics_installations_account_idx ON analytics_installations (account_id);

-- Install cohorts per app and ISO week (its Monday): week -1 holds how many
-- installed that week, week k >= 0 how many of them were uninstalled k weeks
-- after the cohort's Monday; retention at week w is installs - sum(k < w).
CREATE TABLE analytics_cohort_weeks (
  app_id text NOT NULL,
  cohort date NOT NULL,
  week smallint NOT NULL,
  count int NOT NULL DEFAULT 0,
  PRIMARY KEY (app_id, cohort, week)
);

-- Accounts created under a parent organization (an agency's sub-accounts;
-- also developers' test accounts, never shown), by the day they were created
-- (the earliest creation seen wins, so seeded history and the live event agree).
CREATE TABLE analytics_sub_accounts (
  account_id text PRIMARY KEY,
  agency_id text NOT NULL,
  name text NOT NULL,
  created_on date NOT NULL
);
CREATE INDEX analytics_sub_accounts_agency_idx ON analytics_sub_accounts (agency_id, created_on);

-- Money per app, day and currency: payments (gross), refunds, failed charges.
CREATE TABLE analytics_revenue_days (
  app_id text NOT NULL,
  day date NOT NULL,
  currency text NOT NULL,
  gross bigint NOT NULL DEFAULT 0,
  refunded bigint NOT NULL DEFAULT 0,
  payments int NOT NULL DEFAULT 0,
  failures int NOT NULL DEFAULT 0,
  PRIMARY KEY (app_id, day, currency)
);
CREATE INDEX analytics_revenue_days_day_idx ON analytics_revenue_days (day);

-- Monthly recurring revenue per subscription and month: what its payments of
-- kind initial/renewal in that month came to. MRR movement compares months.
CREATE TABLE analytics_subscription_months (
  subscription_id text NOT NULL,
  app_id text NOT NULL,
  month date NOT NULL,
  currency text NOT NULL,
  amount bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (subscription_id, month)
);

-- MRR and its movement per app, month and currency, kept as each payment
-- lands: a subscription's part in a month follows from what it paid that
-- month and the month before (and whether it ever paid earlier), so a payment
-- in month M changes the parts of M and M+1 only. In a month still running,
-- churn counts subscriptions not yet renewed (the dashboard shows them at
-- their last amount until the month ends).
CREATE TABLE analytics_mrr_months (
  app_id text NOT NULL,
  month date NOT NULL,
  currency text NOT NULL,
  mrr bigint NOT NULL DEFAULT 0,
  new bigint NOT NULL DEFAULT 0,
  expansion bigint NOT NULL DEFAULT 0,
  contraction bigint NOT NULL DEFAULT 0,
  churn bigint NOT NULL DEFAULT 0,
  reactivation bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (app_id, month, currency)
);

-- Installs and uninstalls per sub-account and day (accounts with a parent only).
CREATE TABLE analytics_account_days (
  account_id text NOT NULL,
  day date NOT NULL,
  installs int NOT NULL DEFAULT 0,
  uninstalls int NOT NULL DEFAULT 0,
  PRIMARY KEY (account_id, day)
);

-- Installs and uninstalls across the platform per day (the operator's chart).
CREATE TABLE analytics_platform_days (
  day date PRIMARY KEY,
  installs int NOT NULL DEFAULT 0,
  uninstalls int NOT NULL DEFAULT 0
);

-- Payouts per partner, day, state and currency.
CREATE TABLE analytics_payout_days (
  partner_org_id text NOT NULL,
  day date NOT NULL,
  state text NOT NULL,
  currency text NOT NULL,
  count int NOT NULL DEFAULT 0,
  amount bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (partner_org_id, day, state, currency)
);

-- App API calls and the ones refused with 429, per app and day (counted in
-- memory by each process and added here every few seconds).
CREATE TABLE analytics_api_days (
  app_id text NOT NULL,
  day date NOT NULL,
  calls bigint NOT NULL DEFAULT 0,
  limited bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (app_id, day)
);

-- Weekly developer summaries sent: one per organization and week, so a job
-- that runs twice sends once.
CREATE TABLE analytics_weekly_sent (
  organization_id text NOT NULL,
  week date NOT NULL,
  sent_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, week)
);
