-- A sub-account provisioned from a template under a key (the request's Idempotency-Key): written
-- in the transaction that creates the sub-account, so a retry after a crash between creating it and
-- applying the template finds this sub-account and finishes applying instead of making a second one.
CREATE TABLE agency_provisionings (
  agency_id text NOT NULL REFERENCES organizations (id),
  key text NOT NULL,
  template_id text NOT NULL,
  revision integer NOT NULL,
  name text NOT NULL,
  sub_account_id text NOT NULL REFERENCES organizations (id),
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agency_id, key)
);
