-- One row per Idempotency-Key a caller sent to a route declared idempotent:
-- the request it stood for (hash of method, path and body) and the answer it got.
-- Only successful (2xx) answers are kept; a row lives 24 hours (expires_at),
-- then the idempotency.cleanup job deletes it.
CREATE TABLE idempotency_keys (
  scope text NOT NULL,
  key text NOT NULL,
  request_hash text NOT NULL,
  method text NOT NULL,
  path text NOT NULL,
  status integer NOT NULL,
  response jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
