-- The public listing of each app: a copy of its live version's listing,
-- written by marketplace.publish when a version goes live and hidden by
-- marketplace.withdraw on suspend/unpublish. Search, sorting and the app page
-- read only this table.
CREATE TABLE marketplace_listings (
  app_id text PRIMARY KEY,
  slug text NOT NULL UNIQUE,
  name text NOT NULL,
  tagline text NOT NULL DEFAULT '',
  -- Markdown source; rendered to safe HTML when the app page is read.
  description text NOT NULL DEFAULT '',
  category text NOT NULL,
  pricing jsonb NOT NULL,
  pricing_type text NOT NULL CHECK (pricing_type IN ('free', 'one_time', 'recurring', 'usage')),
  -- [{ name, consentText, optional }]
  scopes jsonb NOT NULL DEFAULT '[]',
  developer_org_id text NOT NULL,
  developer_name text NOT NULL,
  icon_url text,
  screenshot_urls text[] NOT NULL DEFAULT '{}',
  support_url text,
  privacy_url text,
  terms_url text,
  version_id text NOT NULL,
  version_number integer NOT NULL,
  -- When the live version went live.
  published_at timestamptz NOT NULL,
  -- When the app first appeared in the marketplace ("newest" sorts by it).
  listed_at timestamptz NOT NULL,
  -- Set while the app is suspended or unpublished: it is then not listed.
  withdrawn_at timestamptz,
  -- Active installations, recounted from the installations service on app.installed/app.uninstalled.
  install_count integer NOT NULL DEFAULT 0,
  -- Visible (not hidden) reviews, kept in step with marketplace_reviews in the same transaction.
  rating_count integer NOT NULL DEFAULT 0,
  rating_sum integer NOT NULL DEFAULT 0,
  rating_average numeric(3, 2) GENERATED ALWAYS AS (
    CASE WHEN rating_count = 0 THEN 0 ELSE round(rating_sum::numeric / rating_count, 2) END
  ) STORED,
  search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', name), 'A') ||
    setweight(to_tsvector('english', tagline), 'B') ||
    setweight(to_tsvector('english', description), 'C')
  ) STORED,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX marketplace_listings_search_idx ON marketplace_listings USING GIN (search);
CREATE INDEX marketplace_listings_popular_idx ON marketplace_listings (install_count DESC, app_id);
CREATE INDEX marketplace_listings_newest_idx ON marketplace_listings (listed_at DESC, app_id);
CREATE INDEX marketplace_listings_rating_idx ON marketplace_listings (rating_average DESC, rating_count DESC, app_id);
CREATE INDEX marketplace_listings_developer_idx ON marketplace_listings (developer_org_id);

-- Ratings and reviews: one per (app, account); only accounts with the app installed may write one.
CREATE TABLE marketplace_reviews (
  id text PRIMARY KEY,
  app_id text NOT NULL REFERENCES marketplace_listings(app_id),
  account_id text NOT NULL,
  -- The account's name as it was when the review was last written (shown publicly).
  account_name text NOT NULL,
  author_user_id text,
  rating smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
  body text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  -- The developer's one reply.
  reply_body text,
  reply_user_id text,
  replied_at timestamptz,
  -- Operators hide abusive reviews: hidden ones leave the public list and the average.
  hidden_at timestamptz,
  hidden_reason text,
  hidden_by text,
  UNIQUE (app_id, account_id)
);
CREATE INDEX marketplace_reviews_app_idx ON marketplace_reviews (app_id, id DESC) WHERE hidden_at IS NULL;
CREATE INDEX marketplace_reviews_hidden_idx ON marketplace_reviews (id DESC) WHERE hidden_at IS NOT NULL;
