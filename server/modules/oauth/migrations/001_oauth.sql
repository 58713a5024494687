-- Everything oidc-provider stores (grants, codes, refresh tokens, interactions,
-- sessions), one row per artifact, read and written only by adapter.ts.
-- JWT access tokens are not stored: they are checked by signature, and the
-- revocation set below takes them back.
CREATE TABLE oauth_payloads (
  model text NOT NULL,
  id text NOT NULL,
  payload jsonb NOT NULL,
  -- The grant an artifact belongs to (a Grant row carries its own id), so a
  -- grant and all its tokens go in one statement.
  grant_id text,
  -- Sessions are also found by uid, device codes by user code.
  uid text,
  user_code text,
  expires_at timestamptz,
  -- Set once, atomically: a code or refresh token is used at most once.
  consumed_at timestamptz,
  -- Refresh tokens: the token this one was rotated into, and the access token
  -- issued with it (revoked when a retry within the grace window replaces the pair).
  replaced_by text,
  access_jti text,
  access_expires_at timestamptz,
  PRIMARY KEY (model, id)
);
CREATE INDEX oauth_payloads_grant_idx ON oauth_payloads (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX oauth_payloads_uid_idx ON oauth_payloads (model, uid) WHERE uid IS NOT NULL;
CREATE INDEX oauth_payloads_user_code_idx ON oauth_payloads (model, user_code) WHERE user_code IS NOT NULL;
CREATE INDEX oauth_payloads_expiry_idx ON oauth_payloads (expires_at) WHERE expires_at IS NOT NULL;

-- The provider's signing keys (ES256), created once so every API process
-- publishes the same JWKS and verifies the same tokens. The private key is
-- encrypted with a key derived from PLAZA_SECRET.
CREATE TABLE oauth_signing_keys (
  kid text PRIMARY KEY,
  alg text NOT NULL,
  public_jwk jsonb NOT NULL,
  private_jwk_encrypted text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  retired_at timestamptz
);

-- Revocations every API process must know within a second: an uninstalled
-- installation (all its access tokens), or one access token (a pair replaced
-- within the refresh grace window). Read incrementally by seq; rows older
-- than any live access token are deleted by the cleanup job.
CREATE TABLE oauth_revocations (
  seq bigserial PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('installation', 'token')),
  subject text NOT NULL,
  reason text NOT NULL,
  revoked_at timestamptz NOT NULL DEFAULT now(),
  -- Tokens: when the revoked token would have expired anyway.
  expires_at timestamptz
);
CREATE INDEX oauth_revocations_revoked_idx ON oauth_revocations (revoked_at);
