-- Abuse limit on the metered routes: calls per app installation (the caller of those routes) and
-- clock minute. One row per caller and window, counted by an atomic upsert, so every API process
-- shares one budget. Windows older than an hour are deleted by the release-reservations job.
CREATE TABLE billing_call_windows (
  installation_id text NOT NULL,
  window_start timestamptz NOT NULL,
  calls integer NOT NULL,
  PRIMARY KEY (installation_id, window_start)
);
CREATE INDEX billing_call_windows_start ON billing_call_windows (window_start);
