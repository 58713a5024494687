-- A user's email is unverified until they follow the signed link sent to it.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- Password reset links: single use, short-lived, only the hash of the token is kept.
CREATE TABLE password_resets (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  email text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at timestamptz
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id, created_at);
