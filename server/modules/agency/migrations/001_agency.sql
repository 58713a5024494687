-- Sub-account templates: what a new sub-account of an agency starts with. `spec` is the
-- template's content (theme, apps with scopes, contact fields, members); `revision` grows
-- with every change, so a sub-account knows which revision it last took.
CREATE TABLE agency_templates (
  id text PRIMARY KEY,
  agency_id text NOT NULL REFERENCES organizations (id),
  name text NOT NULL,
  spec jsonb NOT NULL,
  revision integer NOT NULL DEFAULT 1,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (agency_id, name)
);

-- A template applied to a sub-account: the revision it took and what the last apply changed.
CREATE TABLE agency_template_applications (
  template_id text NOT NULL REFERENCES agency_templates (id) ON DELETE CASCADE,
  sub_account_id text NOT NULL REFERENCES organizations (id),
  revision integer NOT NULL,
  changes jsonb NOT NULL,
  applied_by text,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (template_id, sub_account_id)
);

-- The default theme a template gave a sub-account (kept here until branding has per-account themes).
CREATE TABLE agency_sub_account_themes (
  sub_account_id text PRIMARY KEY REFERENCES organizations (id),
  agency_id text NOT NULL REFERENCES organizations (id),
  theme jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Resale: the agency's price of an app for its sub-accounts, as a markup over the developer's
-- price (percent in basis points, or a fixed amount in minor units of the app's currency).
CREATE TABLE agency_prices (
  agency_id text NOT NULL REFERENCES organizations (id),
  app_id text NOT NULL,
  markup_type text NOT NULL CHECK (markup_type IN ('percent', 'fixed')),
  markup_value bigint NOT NULL CHECK (markup_value >= 0),
  updated_by text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agency_id, app_id)
);

-- Every price change, in order; a rollback is a change too (it names the change it undid).
CREATE TABLE agency_price_changes (
  id text PRIMARY KEY,
  agency_id text NOT NULL REFERENCES organizations (id),
  app_id text NOT NULL,
  -- {"type": "percent"|"fixed", "value": n} or null (no resale price)
  before jsonb,
  after jsonb,
  rollback_of text REFERENCES agency_price_changes (id),
  actor_user_id text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX agency_price_changes_agency_idx ON agency_price_changes (agency_id, id);

-- Resale settings: which apps the agency's sub-accounts see (all, only an allow-list, or all but
-- a block-list), and how many days after a failed payment the agency may pause a sub-account.
CREATE TABLE agency_resale_settings (
  agency_id text PRIMARY KEY REFERENCES organizations (id),
  mode text NOT NULL DEFAULT 'all' CHECK (mode IN ('all', 'allow', 'block')),
  app_ids text[] NOT NULL DEFAULT '{}',
  pause_grace_days integer NOT NULL DEFAULT 7 CHECK (pause_grace_days BETWEEN 0 AND 90),
  updated_by text,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A sub-account the agency paused for what it did not pay: the invoices it must pay to resume.
CREATE TABLE agency_pauses (
  sub_account_id text PRIMARY KEY REFERENCES organizations (id),
  agency_id text NOT NULL REFERENCES organizations (id),
  invoice_ids text[] NOT NULL,
  paused_by text,
  paused_at timestamptz NOT NULL DEFAULT now()
);
