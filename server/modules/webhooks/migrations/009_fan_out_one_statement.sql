-- Attempts keep their message id without a foreign key: the key was checked
-- at every attempt recorded (a lookup of the message, and a row lock on it,
-- for a row the same statement had just updated), and nothing needs it but
-- the cascade, which the endpoint's deletion now does itself (endpoints.ts);
-- retention trims attempts by age on its own. The record statement logs an
-- attempt only for a message its UPDATE found, so none is orphaned there.
ALTER TABLE webhook_attempts DROP CONSTRAINT IF EXISTS webhook_attempts_message_id_fkey;

-- The fan-out of account events in one statement: who receives them (the
-- query messages.ts sent, through the installations module's inlined
-- function) and the payloads, messages and queue rows it makes
-- (webhooks_insert_messages), where the events dispatcher waited for two
-- round trips. A message's id comes from its event and endpoint: the event
-- id's time part, then 64 bits of md5(event id . endpoint id), in the same
-- alphabet and length as newId('msg') (ids.ts), so a redispatched event makes
-- the same ids. Returns the new messages' ids.
CREATE FUNCTION webhooks_fan_out(p_event_ids text[], p_account_ids text[], p_types text[], p_scopes text[],
  p_data text[], p_occurred_at timestamptz[], p_delay_ms integer)
RETURNS TABLE (id text)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH ev AS (
    SELECT * FROM unnest(p_event_ids, p_account_ids, p_types, p_scopes, p_data, p_occurred_at)
      AS ev(id, account_id, type, scope, data, occurred_at)),
  targets AS (
    SELECT ev.id AS event_id, ev.type, ev.account_id, e.id AS endpoint_id, e.app_id, i.id AS installation_id
    FROM ev CROSS JOIN LATERAL installations_active_with_scope(ev.account_id, ev.scope) i
    JOIN webhook_endpoints e ON e.app_id = i.app_id
    WHERE e.enabled AND (cardinality(e.event_types) = 0 OR ev.type = ANY(e.event_types))
      AND (cardinality(e.installation_ids) = 0 OR i.id = ANY(e.installation_ids))
      AND NOT EXISTS (SELECT 1 FROM webhook_mutes m WHERE m.installation_id = i.id AND m.event_type = ev.type)),
  payloads AS (
    INSERT INTO webhook_payloads (id, type, account_id, data, occurred_at)
    SELECT ev.id, ev.type, ev.account_id, ev.data, ev.occurred_at FROM ev
    WHERE ev.id IN (SELECT t.event_id FROM targets t)
    ON CONFLICT (id) DO NOTHING),
  created AS (
    INSERT INTO webhook_messages (id, endpoint_id, app_id, installation_id, event_id, event_type, account_id,
      next_attempt_at, trigger)
    SELECT 'msg_' || substr(t.event_id, strpos(t.event_id, '_') + 1, 10) || left(md5(t.event_id || '.' || t.endpoint_id), 16),
      t.endpoint_id, t.app_id, t.installation_id, t.event_id, t.type, t.account_id,
      now() + p_delay_ms * interval '1 millisecond', 'scheduled'
    FROM targets t
    ON CONFLICT (event_id, endpoint_id) DO NOTHING
    RETURNING id, endpoint_id, next_attempt_at)
  INSERT INTO webhook_queue (message_id, endpoint_id, due_at)
  SELECT c.id, c.endpoint_id, c.next_attempt_at FROM created c
  RETURNING message_id;
END $$;

-- The record statement (webhooks_record, 006) keeps its plan for the session
-- (007), and that plan was made on the statistics of the moment: on tables
-- that grew since they were last analyzed (a fresh database, a burst of new
-- messages) it joined the batch to webhook_messages and webhook_queue by
-- sequential scans and hash joins, reading every message and queue row at
-- each batch (11,000 and 9,000 rows for a batch of one, 13-18 ms, in the
-- benchmark's throughput run; auto_explain). As webhooks_claim already does,
-- it plans for its indexes whatever the statistics say.
ALTER FUNCTION webhooks_record(text[], text[], text[], text[], text[], timestamptz[], integer[], integer[], boolean[],
  text[], text[], text[], integer[], text[], text[], timestamptz[], boolean[], integer[], timestamptz[], integer[])
  SET enable_seqscan = off SET enable_bitmapscan = off SET jit = off;
