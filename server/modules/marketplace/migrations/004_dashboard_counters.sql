-- Counters the dashboards read (never the ratings table or search logs on page load).
-- Ratings given or edited per app and UTC day, with the stars they gave.
CREATE TABLE marketplace_rating_days (
  app_id text NOT NULL,
  day date NOT NULL,
  ratings int NOT NULL DEFAULT 0,
  stars int NOT NULL DEFAULT 0,
  PRIMARY KEY (app_id, day)
);

-- Searches (first page, with words) that found nothing, per normalized query and UTC day.
CREATE TABLE marketplace_search_misses (
  day date NOT NULL,
  query text NOT NULL,
  count int NOT NULL DEFAULT 0,
  PRIMARY KEY (day, query)
);
