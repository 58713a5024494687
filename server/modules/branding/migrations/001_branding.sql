-- White-label: an agency's brand assets, its theme (a draft and published versions) and its custom domains.

-- Logos and favicons, judged by their bytes like app icons. Never changed or deleted while a
-- published version may name them, so a page opened on an older version keeps its images.
CREATE TABLE branding_assets (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations(id),
  kind text NOT NULL CHECK (kind IN ('logo', 'favicon')),
  content_type text NOT NULL,
  bytes integer NOT NULL,
  width integer NOT NULL,
  height integer NOT NULL,
  storage_key text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX branding_assets_org_idx ON branding_assets (organization_id, id);

-- The theme being edited: one per organization, validated on every save.
CREATE TABLE branding_drafts (
  organization_id text PRIMARY KEY REFERENCES organizations(id),
  theme jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text
);

-- Published themes: immutable, numbered per organization; the highest number is live.
CREATE TABLE branding_theme_versions (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations(id),
  version integer NOT NULL,
  theme jsonb NOT NULL,
  published_at timestamptz NOT NULL DEFAULT now(),
  published_by text,
  UNIQUE (organization_id, version)
);

-- Custom domains. Each claim has its own token; a hostname is held (active or misconfigured)
-- by at most one organization, and another one takes it over only by proving its own token.
CREATE TABLE branding_domains (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations(id),
  hostname text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending_dns', 'verifying', 'active', 'misconfigured', 'removed')),
  token text NOT NULL,
  -- Failed checks in a row (retries while pending, daily re-checks once active).
  failures integer NOT NULL DEFAULT 0,
  last_checked_at timestamptz,
  last_result jsonb,
  next_check_at timestamptz,
  verified_at timestamptz,
  removed_at timestamptz,
  removed_reason text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX branding_domains_held_idx ON branding_domains (hostname)
  WHERE state IN ('active', 'misconfigured');
CREATE UNIQUE INDEX branding_domains_claim_idx ON branding_domains (organization_id, hostname)
  WHERE state <> 'removed';
CREATE INDEX branding_domains_due_idx ON branding_domains (next_check_at) WHERE state <> 'removed';
