-- Each installation made through OAuth is backed by one grant of the OAuth
-- provider; uninstalling revokes it (and every token of it).
ALTER TABLE installations ADD COLUMN grant_id text;
CREATE UNIQUE INDEX installations_grant_idx ON installations (grant_id) WHERE grant_id IS NOT NULL;
