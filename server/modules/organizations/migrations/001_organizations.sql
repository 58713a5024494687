CREATE TABLE organizations (
  id text PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('developer', 'agency', 'account')),
  name text NOT NULL,
  -- A sub-account is an account owned by an agency.
  parent_id text REFERENCES organizations(id),
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK (parent_id IS NULL OR kind = 'account')
);
CREATE INDEX organizations_parent_idx ON organizations (parent_id, id);

CREATE TABLE memberships (
  organization_id text NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id text NOT NULL,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user_idx ON memberships (user_id);

CREATE TABLE invitations (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  email text NOT NULL,
  role text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
  token_hash text NOT NULL UNIQUE,
  invited_by text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  accepted_at timestamptz,
  accepted_by text,
  revoked_at timestamptz
);
CREATE INDEX invitations_org_idx ON invitations (organization_id, id);
CREATE UNIQUE INDEX invitations_pending_key ON invitations (organization_id, lower(email))
  WHERE accepted_at IS NULL AND revoked_at IS NULL;
