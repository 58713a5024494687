-- The record and insert functions (006) keep their plans for the session again,
-- as the statements they replaced did: planning the record statement at every
-- call cost about 1.3 ms of PostgreSQL CPU per batch (2.9-3.2 against 1.6-1.8 ms
-- per call of 17 results on 20,000 messages), some 75 us per delivery.
ALTER FUNCTION webhooks_record RESET plan_cache_mode;
ALTER FUNCTION webhooks_insert_messages RESET plan_cache_mode;
