-- An app installed in an account, with the scopes the account granted.
-- The OAuth issue backs each one with a grant; rows are never deleted, an
-- uninstall closes the row and a later install opens a new one.
CREATE TABLE installations (
  id text PRIMARY KEY,
  -- The account organization the app is installed in.
  account_id text NOT NULL,
  app_id text NOT NULL,
  version_id text NOT NULL,
  granted_scopes text[] NOT NULL DEFAULT '{}',
  -- The person who approved the install (null for the system).
  installed_by text,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'uninstalled')),
  created_at timestamptz NOT NULL DEFAULT now(),
  uninstalled_at timestamptz,
  uninstalled_by text,
  CHECK ((status = 'uninstalled') = (uninstalled_at IS NOT NULL))
);
-- One active installation per (account, app).
CREATE UNIQUE INDEX installations_one_active ON installations (account_id, app_id) WHERE status = 'active';
CREATE INDEX installations_account_idx ON installations (account_id, id);
CREATE INDEX installations_app_active_idx ON installations (app_id) WHERE status = 'active';
