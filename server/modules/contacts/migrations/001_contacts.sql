-- The customer records of an account: the people and businesses the account
-- works with, and the data apps read and change (scopes contacts:read and
-- contacts:write). Rows belong to one account organization.
CREATE TABLE contacts (
  id text PRIMARY KEY,
  -- The account organization that owns the contact.
  organization_id text NOT NULL,
  name text NOT NULL DEFAULT '',
  email text,
  -- E.164, normalised on input: +15551234567.
  phone text,
  -- Lowercase labels, unique within a contact.
  tags text[] NOT NULL DEFAULT '{}',
  -- Flat key -> string/number/boolean map; its size is bounded by the service.
  custom_fields jsonb NOT NULL DEFAULT '{}',
  -- Who made the first and the last change: {"type":"user","id":...} or {"type":"app",...}.
  created_by jsonb NOT NULL,
  updated_by jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- What text search looks in (substring match, lowercase).
  search_text text GENERATED ALWAYS AS (
    lower(name || ' ' || coalesce(email, '') || ' ' || coalesce(phone, ''))
  ) STORED,
  CHECK (name <> '' OR email IS NOT NULL OR phone IS NOT NULL)
);
-- Newest first, and keyset pages of each sort order.
CREATE INDEX contacts_org_id_idx ON contacts (organization_id, id);
CREATE INDEX contacts_org_name_idx ON contacts (organization_id, lower(name), id);
CREATE INDEX contacts_org_updated_idx ON contacts (organization_id, updated_at, id);
CREATE INDEX contacts_tags_idx ON contacts USING gin (tags);
-- One contact per email address in an account (case-insensitive).
CREATE UNIQUE INDEX contacts_org_email_key ON contacts (organization_id, lower(email)) WHERE email IS NOT NULL;
