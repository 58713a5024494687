-- The reserve of 010 is withdrawn: a reserved message of an endpoint with no attempt of
-- this process left in flight waited for its lease to run out (an 11 s stall in one bench
-- run), and an entry left behind that way could give back the same message after a later
-- claim had reserved it again, which delivered it twice (16 duplicate POSTs in that run).
-- The pump claims as it did before 010.
DROP FUNCTION webhooks_claim_reserve(integer, integer, integer, text[], integer, integer);
