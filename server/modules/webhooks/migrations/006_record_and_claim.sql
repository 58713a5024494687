-- Recording a batch of attempt results becomes a function (the statement the
-- engine sent, unchanged but for the latency buckets, now a parameter), so
-- that webhooks_record_claim can record a batch and claim the slots it frees
-- in one round trip: the pump's claims rode on their own statement after
-- every batch of results (half the engine's statements at full speed).
CREATE FUNCTION webhooks_record(p_att_ids text[], p_message_ids text[], p_endpoint_ids text[], p_app_ids text[],
  p_urls text[], p_started_at timestamptz[], p_duration_ms integer[], p_status integer[], p_success boolean[],
  p_bodies text[], p_errors text[], p_triggers text[], p_delays integer[], p_reasons text[],
  p_h_ids text[], p_h_last_attempt_at timestamptz[], p_h_any_success boolean[], p_h_failures_after integer[],
  p_h_first_failure_after timestamptz[], p_latency_bounds integer[])
RETURNS TABLE (id text, consecutive_failures integer, failing_ms double precision)
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH r AS (
    SELECT * FROM unnest(p_att_ids, p_message_ids, p_endpoint_ids, p_app_ids, p_urls, p_started_at, p_duration_ms,
      p_status, p_success, p_bodies, p_errors, p_triggers, p_delays, p_reasons)
      AS r(att_id, message_id, endpoint_id, app_id, url, started_at, duration_ms, status, success, body,
        error, trigger, delay, reason)),
  msg AS (
    UPDATE webhook_messages m SET attempts = m.attempts + 1, round_attempts = m.round_attempts + 1,
      last_attempt_at = r.started_at, last_status = r.status, last_error = r.error,
      state = CASE WHEN r.success THEN 'delivered' WHEN m.state = 'pending' AND r.delay IS NULL THEN 'failed'
        ELSE m.state END,
      next_attempt_at = CASE WHEN NOT r.success AND m.state = 'pending' AND r.delay IS NOT NULL
        THEN now() + r.delay * interval '1 millisecond' END,
      delivered_at = CASE WHEN r.success THEN now() ELSE m.delivered_at END,
      failed_at = CASE WHEN r.success THEN NULL WHEN m.state = 'pending' AND r.delay IS NULL THEN now()
        ELSE m.failed_at END,
      failure_reason = CASE WHEN r.success THEN NULL WHEN m.state = 'pending' AND r.delay IS NULL THEN r.reason
        ELSE m.failure_reason END
    FROM r WHERE m.id = r.message_id
    RETURNING m.id, m.state, m.next_attempt_at),
  -- Attempts of the messages still there (updated above): one deleted meanwhile logs none.
  att AS (
    INSERT INTO webhook_attempts (id, message_id, endpoint_id, app_id, url, started_at, duration_ms, status_code,
      success, response_body, error, trigger)
    SELECT att_id, message_id, endpoint_id, app_id, url, started_at, duration_ms, status, success, body, error,
      trigger
    FROM r JOIN msg ON msg.id = r.message_id),
  days AS (
    INSERT INTO webhook_attempt_days AS d (endpoint_id, app_id, day, bucket, attempts, succeeded)
    SELECT endpoint_id, app_id, (started_at AT TIME ZONE 'UTC')::date,
      coalesce(width_bucket(duration_ms, p_latency_bounds), cardinality(p_latency_bounds)),
      count(*), count(*) FILTER (WHERE success)
    FROM r JOIN msg ON msg.id = r.message_id
    GROUP BY 1, 2, 3, 4 ORDER BY 1, 3, 4
    ON CONFLICT (endpoint_id, day, bucket) DO UPDATE
      SET attempts = d.attempts + EXCLUDED.attempts, succeeded = d.succeeded + EXCLUDED.succeeded),
  dequeued AS (
    DELETE FROM webhook_queue q USING msg WHERE q.message_id = msg.id AND msg.state <> 'pending'),
  requeued AS (
    UPDATE webhook_queue q SET due_at = msg.next_attempt_at, lease_until = NULL
    FROM msg WHERE q.message_id = msg.id AND msg.state = 'pending')
  UPDATE webhook_endpoints e SET last_attempt_at = greatest(e.last_attempt_at, h.last_attempt_at),
    last_success_at = CASE WHEN h.any_success THEN now() ELSE e.last_success_at END,
    failing_since = CASE WHEN h.any_success THEN h.first_failure_after
      ELSE coalesce(e.failing_since, h.first_failure_after) END,
    consecutive_failures = CASE WHEN h.any_success THEN h.failures_after
      ELSE e.consecutive_failures + h.failures_after END
  FROM unnest(p_h_ids, p_h_last_attempt_at, p_h_any_success, p_h_failures_after, p_h_first_failure_after)
    AS h(id, last_attempt_at, any_success, failures_after, first_failure_after)
  WHERE e.id = h.id
  RETURNING e.id, e.consecutive_failures, extract(epoch FROM now() - e.failing_since)::float8 * 1000;
END $$;

-- Records a batch (webhooks_record) and then leases up to p_limit due
-- messages (webhooks_claim, 005), in one transaction: the claim runs after
-- the results are written, so the slots they free are free to it, and takes
-- the advisory lock as any claim does (the per-endpoint cap stays exact).
-- The engine sends it for batches of successes only (no endpoint to disable).
CREATE FUNCTION webhooks_record_claim(p_att_ids text[], p_message_ids text[], p_endpoint_ids text[],
  p_app_ids text[], p_urls text[], p_started_at timestamptz[], p_duration_ms integer[], p_status integer[],
  p_success boolean[], p_bodies text[], p_errors text[], p_triggers text[], p_delays integer[], p_reasons text[],
  p_h_ids text[], p_h_last_attempt_at timestamptz[], p_h_any_success boolean[], p_h_failures_after integer[],
  p_h_first_failure_after timestamptz[], p_latency_bounds integer[],
  p_limit integer, p_cap integer, p_lease_ms integer, p_recording text[])
RETURNS TABLE (id text, endpoint_id text, app_id text, event_id text, account_id text, installation_id text,
  trigger text, round_attempts integer, url text, enabled boolean, secret_ids text[], payload_type text,
  payload_data text, payload_occurred_at timestamptz)
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM FROM webhooks_record(p_att_ids, p_message_ids, p_endpoint_ids, p_app_ids, p_urls, p_started_at,
    p_duration_ms, p_status, p_success, p_bodies, p_errors, p_triggers, p_delays, p_reasons, p_h_ids,
    p_h_last_attempt_at, p_h_any_success, p_h_failures_after, p_h_first_failure_after, p_latency_bounds);
  RETURN QUERY SELECT * FROM webhooks_claim(p_limit, p_cap, p_lease_ms, p_recording);
END $$;

-- Messages of events with their payloads and queue rows (the statement the
-- engine sent, as a function), and the same followed by a claim: the process
-- that makes an event's messages and has free slots leases them (or older
-- due ones first, as any claim) in the same round trip, instead of waking its
-- pump for a claim of its own. The first row counts the messages made
-- (`created`; the claim's columns are null), the claimed messages follow.
CREATE FUNCTION webhooks_insert_messages(p_event_ids text[], p_types text[], p_account_ids text[], p_data text[],
  p_occurred_at timestamptz[], p_ids text[], p_endpoint_ids text[], p_app_ids text[], p_installation_ids text[],
  p_delay_ms integer, p_message_event_ids text[], p_trigger text)
RETURNS TABLE (id text)
LANGUAGE plpgsql
SET plan_cache_mode = force_custom_plan
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH payloads AS (
    INSERT INTO webhook_payloads (id, type, account_id, data, occurred_at)
    SELECT * FROM unnest(p_event_ids, p_types, p_account_ids, p_data, p_occurred_at)
    ON CONFLICT (id) DO NOTHING),
  created AS (
    INSERT INTO webhook_messages (id, endpoint_id, app_id, installation_id, event_id, event_type, account_id,
      next_attempt_at, trigger)
    SELECT u.id, u.endpoint_id, u.app_id, u.installation_id, u.event_id, ev.type, ev.account_id,
      now() + p_delay_ms * interval '1 millisecond', p_trigger
    FROM unnest(p_ids, p_endpoint_ids, p_app_ids, p_installation_ids, p_message_event_ids)
      AS u(id, endpoint_id, app_id, installation_id, event_id)
    JOIN unnest(p_event_ids, p_types, p_account_ids) AS ev(id, type, account_id) ON ev.id = u.event_id
    ON CONFLICT (event_id, endpoint_id) DO NOTHING
    RETURNING id, endpoint_id, next_attempt_at)
  INSERT INTO webhook_queue (message_id, endpoint_id, due_at)
  SELECT c.id, c.endpoint_id, c.next_attempt_at FROM created c
  RETURNING message_id;
END $$;

CREATE FUNCTION webhooks_insert_claim(p_event_ids text[], p_types text[], p_account_ids text[], p_data text[],
  p_occurred_at timestamptz[], p_ids text[], p_endpoint_ids text[], p_app_ids text[], p_installation_ids text[],
  p_delay_ms integer, p_message_event_ids text[], p_trigger text,
  p_limit integer, p_cap integer, p_lease_ms integer, p_recording text[])
RETURNS TABLE (created integer, id text, endpoint_id text, app_id text, event_id text, account_id text,
  installation_id text, trigger text, round_attempts integer, url text, enabled boolean, secret_ids text[],
  payload_type text, payload_data text, payload_occurred_at timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
  n integer;
BEGIN
  SELECT count(*) INTO n FROM webhooks_insert_messages(p_event_ids, p_types, p_account_ids, p_data, p_occurred_at,
    p_ids, p_endpoint_ids, p_app_ids, p_installation_ids, p_delay_ms, p_message_event_ids, p_trigger);
  RETURN QUERY SELECT n, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
    NULL::integer, NULL::text, NULL::boolean, NULL::text[], NULL::text, NULL::text, NULL::timestamptz;
  RETURN QUERY SELECT NULL::integer, c.* FROM webhooks_claim(p_limit, p_cap, p_lease_ms, p_recording) c;
END $$;
