-- Sending domains are re-checked by a job (pending ones on a growing schedule, verified ones daily);
-- a verified domain whose records stay missing for several checks in a row stops being used.
ALTER TABLE branding_sending_domains
  ADD COLUMN failures integer NOT NULL DEFAULT 0,
  ADD COLUMN next_check_at timestamptz;
UPDATE branding_sending_domains SET next_check_at = now() WHERE state <> 'removed';
CREATE INDEX branding_sending_domains_due_idx ON branding_sending_domains (next_check_at)
  WHERE state <> 'removed';
