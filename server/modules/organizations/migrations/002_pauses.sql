-- An agency may pause a sub-account (its payment failed past the grace period): the
-- sub-account's own people get 423 until it is resumed; the agency's people keep access.
ALTER TABLE organizations ADD COLUMN paused_at timestamptz;
ALTER TABLE organizations ADD COLUMN pause_reason text;
