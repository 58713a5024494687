-- The app's own page that starts installing it (it begins the OAuth flow); the
-- marketplace's Install button links there. Reviewed like redirect URIs: a
-- change needs a full review.
ALTER TABLE app_versions ADD COLUMN install_url text;
