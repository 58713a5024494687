-- Agency rebilling: the price an agency charges its sub-account for the recurring fee, instead of
-- the plan's. It holds only for the plan version and interval it was set for (a plan change
-- falls back to the plan's price until the agency sets its price again); never below the plan's.
ALTER TABLE billing_subscriptions ADD COLUMN resale_price bigint CHECK (resale_price >= 0);
ALTER TABLE billing_subscriptions ADD COLUMN resale_plan_version_id text REFERENCES billing_plan_versions (id);
ALTER TABLE billing_subscriptions ADD COLUMN resale_interval text CHECK (resale_interval IN ('month', 'year'));
ALTER TABLE billing_subscriptions ADD COLUMN resale_agency_id text;
