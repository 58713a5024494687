-- UNIQUE COUNT: one row per account, meter and distinct key with the days it was seen as a
-- multirange (consecutive days merge into one range), so a period's distinct count reads one row
-- per key instead of one per key and day (5,000 users active every day of a month: 5,000 rows to
-- read instead of 150,000).
CREATE TABLE billing_usage_unique_keys (
  account_id text NOT NULL,
  meter_id text NOT NULL REFERENCES billing_meters (id),
  unique_key text NOT NULL,
  days datemultirange NOT NULL,
  PRIMARY KEY (account_id, meter_id, unique_key)
);
INSERT INTO billing_usage_unique_keys (account_id, meter_id, unique_key, days)
SELECT account_id, meter_id, unique_key, range_agg(daterange(day, day + 1))
  FROM billing_usage_uniques
 GROUP BY account_id, meter_id, unique_key;
DROP TABLE billing_usage_uniques;
