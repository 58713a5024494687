-- Device-style sign-in of the `plaza` CLI: the CLI holds the device code (only
-- its hash is kept), the person types or opens the user code in the web app
-- and approves it for one developer organization; the CLI's next poll mints
-- an API key for that person in that organization (the key is never stored here).
CREATE TABLE cli_device_codes (
  id text PRIMARY KEY,
  device_code_hash text NOT NULL UNIQUE,
  user_code text NOT NULL UNIQUE,
  client_name text NOT NULL,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
  organization_id text REFERENCES organizations(id) ON DELETE CASCADE,
  user_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  last_polled_at timestamptz
);
CREATE INDEX cli_device_codes_expires_idx ON cli_device_codes (expires_at);

-- Apps with a `plaza webhooks listen` running somewhere (renewed while the
-- stream is open), so the event subscriber only looks up installations for
-- apps someone listens to.
CREATE TABLE cli_stream_listeners (
  id text PRIMARY KEY,
  app_id text NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE INDEX cli_stream_listeners_app_idx ON cli_stream_listeners (app_id, expires_at);
