-- Append-only: nothing updates or deletes these rows.
CREATE TABLE audit_events (
  id text PRIMARY KEY,
  organization_id text,
  actor_user_id text,
  actor_email text,
  actor_api_key_id text,
  action text NOT NULL,
  target_type text,
  target_id text,
  ip text,
  request_id text,
  data jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_org_idx ON audit_events (organization_id, id DESC);
CREATE INDEX audit_events_id_idx ON audit_events (id DESC);
