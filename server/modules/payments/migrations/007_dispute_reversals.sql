-- A lost dispute takes back the partners' shares they were already paid by
-- reversing their transfers on the provider; what a reversal could not take
-- (the partner was paid out) stays a receivable netted from the next payouts.
ALTER TABLE payments_disputes
  ADD COLUMN reversals jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN unreversed jsonb NOT NULL DEFAULT '[]';
