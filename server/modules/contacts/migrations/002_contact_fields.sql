-- Typed custom fields: an account declares the fields its contacts carry
-- (a clinic's "insurance provider", a gym's "membership plan"), so the web app
-- shows a proper input for each and contact writes are checked by type.
-- Values stay in contacts.custom_fields; a key without a definition is still
-- accepted as before (apps may keep their own keys).
CREATE TABLE contact_fields (
  organization_id text NOT NULL,
  -- The key in custom_fields: a letter, then letters, digits or _.
  key text NOT NULL,
  label text NOT NULL,
  type text NOT NULL CHECK (type IN ('text', 'number', 'boolean', 'date', 'select')),
  -- The allowed values of a select field (empty for the other types).
  options text[] NOT NULL DEFAULT '{}',
  position integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, key)
);

-- Tags an account keeps ready for its contacts even before any contact carries them
-- (the tag picker offers them); tags in use on contacts need no row here.
CREATE TABLE contact_tags (
  organization_id text NOT NULL,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, name)
);

-- Sample data: who added the contact as an example (a vertical template's
-- "verticals:dental-clinic"), so it can be removed in one go; null for real contacts.
ALTER TABLE contacts ADD COLUMN sample text;
CREATE INDEX contacts_org_sample_idx ON contacts (organization_id, sample) WHERE sample IS NOT NULL;
