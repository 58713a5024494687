-- What accounts pay for the data product queries of the apps installed in
-- them: usage rows are gathered into a charge of the account's saved card
-- (the platform's payments record it in the ledger). A failed charge lets
-- its rows go back to the next run.
ALTER TABLE data_products_usage ADD COLUMN charge_id text;
CREATE INDEX data_products_usage_unbilled_idx ON data_products_usage (account_id, currency, created_at)
  WHERE charge_id IS NULL;

CREATE TABLE data_products_charges (
  id text PRIMARY KEY,
  organization_id text NOT NULL,
  currency text NOT NULL,
  amount bigint NOT NULL,
  queries integer NOT NULL,
  -- open (being charged), succeeded, failed
  status text NOT NULL DEFAULT 'open',
  provider_charge_id text,
  failure text,
  created_at timestamptz NOT NULL DEFAULT now(),
  settled_at timestamptz
);
CREATE INDEX data_products_charges_org_idx ON data_products_charges (organization_id, created_at DESC);
