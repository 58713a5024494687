-- An agency's own sending domain: mail goes from it (DKIM-signed with its key) once SPF, DKIM and
-- DMARC records are found; until then from the platform's address under the agency's name.
CREATE TABLE branding_sending_domains (
  id text PRIMARY KEY,
  organization_id text NOT NULL REFERENCES organizations(id),
  domain text NOT NULL,
  state text NOT NULL CHECK (state IN ('pending', 'verified', 'removed')),
  dkim_selector text NOT NULL,
  dkim_public_key text NOT NULL,
  -- AES-256-GCM under a key derived from PLAZA_SECRET.
  dkim_private_key text NOT NULL,
  last_checked_at timestamptz,
  last_result jsonb,
  verified_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX branding_sending_domains_org_idx ON branding_sending_domains (organization_id)
  WHERE state <> 'removed';
