-- When an event was counted: redeliveries trail the first delivery by minutes
-- (the events dispatcher's retries and leases), so ids older than the retention
-- window (analytics.seen_retention job) cannot come again and are deleted.
-- BRIN: rows arrive in seen_at order, and the index stays a few pages.
ALTER TABLE analytics_seen ADD COLUMN seen_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX analytics_seen_seen_at_idx ON analytics_seen USING brin (seen_at);
