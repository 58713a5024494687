-- Attempts per endpoint, UTC day and latency bucket, added to in the same
-- statement that records the attempts (webhooks_record), so the developers'
-- and operator's dashboards read success rates and latency percentiles here
-- instead of scanning webhook_attempts (which retention also trims).
-- bucket: width_bucket(duration_ms, ATTEMPT_LATENCY_BOUNDS) (delivery.ts), 0 = under the first bound.
CREATE TABLE webhook_attempt_days (
  endpoint_id text NOT NULL,
  app_id text NOT NULL,
  day date NOT NULL,
  bucket smallint NOT NULL,
  attempts int NOT NULL DEFAULT 0,
  succeeded int NOT NULL DEFAULT 0,
  PRIMARY KEY (endpoint_id, day, bucket)
);
CREATE INDEX webhook_attempt_days_app_idx ON webhook_attempt_days (app_id, day);
CREATE INDEX webhook_attempt_days_day_idx ON webhook_attempt_days (day);
