-- Resale: a sub-account pays its agency's price; `pricing` is that price and `resale` keeps
-- what the developer asked ({"agencyOrgId": ..., "developerPricing": {...}}) for the ledger's split.
ALTER TABLE payments_subscriptions ADD COLUMN resale jsonb;
-- The agency's markup in each invoice's amount (0 without resale), and when a charge of it first failed
-- (an agency may pause a sub-account whose payment failed longer ago than the grace period).
ALTER TABLE payments_invoices ADD COLUMN markup bigint NOT NULL DEFAULT 0 CHECK (markup >= 0 AND markup < amount);
ALTER TABLE payments_invoices ADD COLUMN failed_at timestamptz;
