-- Abuse limits on spending credits: a run of refused deductions blocks the account's spending
-- for a while, and the last hour's committed spend is read for the spend alert.
ALTER TABLE billing_wallets ADD COLUMN refusals_in_row integer NOT NULL DEFAULT 0;
ALTER TABLE billing_wallets ADD COLUMN blocked_until timestamptz;
CREATE INDEX billing_credit_debits_spent ON billing_credit_debits (account_id, settled_at) WHERE status = 'committed';
