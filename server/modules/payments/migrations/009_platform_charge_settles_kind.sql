-- What a settling charge credits: the receivable it pays, or the customer's deferred revenue
-- (customer_credit_liability) for a prepayment of credits. Rows from before are receivables.
ALTER TABLE payments_platform_charges ADD COLUMN settles_kind text
  CHECK (settles_kind IN ('customer_receivable', 'customer_credit_liability'));
UPDATE payments_platform_charges SET settles_kind = 'customer_receivable' WHERE settles_party IS NOT NULL;
ALTER TABLE payments_platform_charges ADD CONSTRAINT payments_platform_charges_settles
  CHECK ((settles_party IS NULL) = (settles_kind IS NULL));
