-- Packs uploaded by the operator (owner_id NULL: offered to every account) or
-- by an agency, or captured from an account (owner_id: the agency, offered to
-- its sub-accounts when shared; or the account itself). Shipped packs are files.
CREATE TABLE verticals_packs (
  id text PRIMARY KEY,
  owner_id text,
  slug text NOT NULL,
  version text NOT NULL,
  pack jsonb NOT NULL,
  source text NOT NULL CHECK (source IN ('upload', 'capture')),
  shared boolean NOT NULL DEFAULT true,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX verticals_packs_owner_slug_version_key
  ON verticals_packs (coalesce(owner_id, ''), slug, version);

-- Which version of which vertical an account has, and that version's pack
-- (an upgrade diffs the new version against it to tell local changes apart).
CREATE TABLE verticals_applications (
  organization_id text NOT NULL,
  slug text NOT NULL,
  version text NOT NULL,
  pack jsonb NOT NULL,
  applied_by text,
  first_applied_at timestamptz NOT NULL DEFAULT now(),
  applied_at timestamptz NOT NULL DEFAULT now(),
  -- Set when the account removed the sample data: it is not added again.
  samples_removed_at timestamptz,
  PRIMARY KEY (organization_id, slug)
);

-- Every apply that changed something: from which version to which, and what it did.
CREATE TABLE verticals_history (
  id text PRIMARY KEY,
  organization_id text NOT NULL,
  slug text NOT NULL,
  from_version text,
  to_version text NOT NULL,
  forced boolean NOT NULL DEFAULT false,
  changes jsonb NOT NULL,
  applied_by text,
  applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX verticals_history_org_idx ON verticals_history (organization_id, applied_at);

-- Sample contacts a vertical added (contact_id NULL: one with its email already existed).
CREATE TABLE verticals_samples (
  organization_id text NOT NULL,
  slug text NOT NULL,
  key text NOT NULL,
  contact_id text,
  PRIMARY KEY (organization_id, slug, key)
);

-- Sales pipelines and their stages, per account (any vertical may add to them).
CREATE TABLE verticals_pipelines (
  organization_id text NOT NULL,
  key text NOT NULL,
  name text NOT NULL,
  position integer NOT NULL DEFAULT 0,
  PRIMARY KEY (organization_id, key)
);
CREATE TABLE verticals_stages (
  organization_id text NOT NULL,
  pipeline_key text NOT NULL,
  key text NOT NULL,
  name text NOT NULL,
  position integer NOT NULL DEFAULT 0,
  PRIMARY KEY (organization_id, pipeline_key, key),
  FOREIGN KEY (organization_id, pipeline_key) REFERENCES verticals_pipelines (organization_id, key) ON DELETE CASCADE
);

-- Handlebars email templates of the account (subject and body).
CREATE TABLE verticals_email_templates (
  organization_id text NOT NULL,
  key text NOT NULL,
  name text NOT NULL,
  subject text NOT NULL,
  body text NOT NULL,
  PRIMARY KEY (organization_id, key)
);

-- The getting-started checklist shown to the account.
CREATE TABLE verticals_checklist (
  organization_id text NOT NULL,
  key text NOT NULL,
  title text NOT NULL,
  description text NOT NULL DEFAULT '',
  position integer NOT NULL DEFAULT 0,
  done_at timestamptz,
  done_by text,
  PRIMARY KEY (organization_id, key)
);

-- Theme values a vertical suggests, kept per account until they can be applied
-- to the white-label theme (applied_at set then).
CREATE TABLE verticals_themes (
  organization_id text PRIMARY KEY,
  slug text NOT NULL,
  theme jsonb NOT NULL,
  applied_at timestamptz
);
