-- The live version's install link (the app's page that starts the OAuth flow);
-- null when the app has none, and the app page then shows no Install button.
ALTER TABLE marketplace_listings ADD COLUMN install_url text;
