-- The record statement (webhooks_record, 006) was planned again at every call. 007 let
-- the plan cache choose (plan_cache_mode auto) and 009 kept it on its indexes, but for
-- the small batches of a normal load (one to a few results, each array's length known
-- to a custom plan) a custom plan is always estimated cheaper than the generic one, so
-- auto never keeps one: pg_stat_statements (track_planning) in bench/webhooks-e2e at
-- 300 creates/s showed 547 plans for 545 calls, 0.55 ms planning against 0.43 ms
-- executing per call, more than half the statement's cost. Its plan is the same for
-- any batch: every table is reached by key from the batch's rows (the SET options
-- below, from 009, keep it on the indexes whatever the statistics say).
ALTER FUNCTION webhooks_record(text[], text[], text[], text[], text[], timestamptz[], integer[], integer[], boolean[],
  text[], text[], text[], integer[], text[], text[], timestamptz[], boolean[], integer[], timestamptz[], integer[])
  SET plan_cache_mode = force_generic_plan;
