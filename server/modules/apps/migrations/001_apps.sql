-- Apps: the stable identity of a marketplace listing and OAuth client.
CREATE TABLE apps (
  id text PRIMARY KEY,
  organization_id text NOT NULL,
  slug text NOT NULL UNIQUE,
  -- The name of the newest version, for consoles and lists (the reviewed name is on the version).
  name text NOT NULL,
  client_id text NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'unpublished')),
  status_reason text,
  status_changed_at timestamptz,
  live_version_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX apps_org_idx ON apps (organization_id, id);

-- Versions carry everything that is reviewed. One is live at a time; at most one is open.
CREATE TABLE app_versions (
  id text PRIMARY KEY,
  app_id text NOT NULL REFERENCES apps(id),
  organization_id text NOT NULL,
  number integer NOT NULL,
  state text NOT NULL CHECK (state IN ('draft', 'checking', 'queued', 'in_review', 'changes_requested', 'live', 'retired')),
  name text NOT NULL,
  tagline text NOT NULL DEFAULT '',
  description text NOT NULL DEFAULT '',
  category text NOT NULL,
  support_url text,
  privacy_url text,
  terms_url text,
  icon_asset_id text,
  screenshot_asset_ids text[] NOT NULL DEFAULT '{}',
  redirect_uris text[] NOT NULL DEFAULT '{}',
  scopes jsonb NOT NULL DEFAULT '[]',
  webhook_events text[] NOT NULL DEFAULT '{}',
  pricing jsonb NOT NULL DEFAULT '{"type":"free"}',
  -- 'full' when it adds scopes (or is the first version), 'fast_track' when only listing text changed.
  review_kind text CHECK (review_kind IN ('full', 'fast_track')),
  submitted_at timestamptz,
  decided_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (app_id, number)
);
CREATE UNIQUE INDEX app_versions_one_open ON app_versions (app_id)
  WHERE state IN ('draft', 'checking', 'queued', 'in_review', 'changes_requested');
CREATE UNIQUE INDEX app_versions_one_live ON app_versions (app_id) WHERE state = 'live';
CREATE INDEX app_versions_queue_idx ON app_versions (state, submitted_at);

-- Client secrets: stored hashed; after a rotation the old one keeps working until expires_at.
CREATE TABLE app_client_secrets (
  id text PRIMARY KEY,
  app_id text NOT NULL REFERENCES apps(id),
  prefix text NOT NULL,
  secret_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz
);
CREATE INDEX app_client_secrets_app_idx ON app_client_secrets (app_id);

-- Uploaded icons and screenshots; the bytes live in the storage backend under storage_key.
CREATE TABLE app_assets (
  id text PRIMARY KEY,
  app_id text NOT NULL REFERENCES apps(id),
  organization_id text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('icon', 'screenshot')),
  content_type text NOT NULL,
  bytes integer NOT NULL,
  width integer,
  height integer,
  storage_key text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX app_assets_app_idx ON app_assets (app_id);
