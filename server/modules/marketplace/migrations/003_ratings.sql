-- Customers' stars and words about an app are "ratings"; "review" means app
-- review (the reviews module). Names only: the rows and the API stay as they were.
ALTER TABLE marketplace_reviews RENAME TO marketplace_ratings;
ALTER TABLE marketplace_ratings RENAME CONSTRAINT marketplace_reviews_pkey TO marketplace_ratings_pkey;
ALTER TABLE marketplace_ratings RENAME CONSTRAINT marketplace_reviews_app_id_account_id_key TO marketplace_ratings_app_id_account_id_key;
ALTER TABLE marketplace_ratings RENAME CONSTRAINT marketplace_reviews_app_id_fkey TO marketplace_ratings_app_id_fkey;
ALTER TABLE marketplace_ratings RENAME CONSTRAINT marketplace_reviews_rating_check TO marketplace_ratings_rating_check;
ALTER INDEX marketplace_reviews_app_idx RENAME TO marketplace_ratings_app_idx;
ALTER INDEX marketplace_reviews_hidden_idx RENAME TO marketplace_ratings_hidden_idx;
