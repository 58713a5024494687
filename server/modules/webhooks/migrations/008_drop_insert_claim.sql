-- Claiming with the messages a fan-out makes (webhooks_insert_claim, 006) put
-- the claim on the events dispatcher's path: each batch of events waited for
-- it before the next was leased, and commit -> message written grew (p50 54-83
-- against 28-48 ms at 1,000 events/s, three runs each, load 6-9). The fan-out
-- inserts and wakes the pump again; the insert stays a function.
DROP FUNCTION webhooks_insert_claim(text[], text[], text[], text[], timestamptz[], text[], text[], text[], text[],
  integer, text[], text, integer, integer, integer, text[]);
