-- A payout being sent is claimed by one run at a time: the run that holds an
-- unexpired lease is the only one that sends its transfers or settles it. A
-- run whose process died leaves its lease to run out; the next run takes the
-- payout over and sends the same transfer keys (the provider replays them).
-- Times are the database's clock, the one every process shares.
ALTER TABLE ledger_payouts ADD COLUMN lease_owner text;
ALTER TABLE ledger_payouts ADD COLUMN lease_until timestamptz;
