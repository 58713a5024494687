-- The fan-out (webhooks_fan_out, 009) and then a claim (webhooks_claim, 005) in
-- one transaction, for a pumping process with free slots: the new messages'
-- first attempts start when the fan-out answers, where they waited for a
-- claim round trip after it (at 1,000 events/s that claim was the largest
-- share of message written -> first attempt). The claim is any claim: under
-- the advisory lock (the per-endpoint cap stays exact), oldest due first. It
-- runs only when the fan-out made messages. Rows: the first counts the
-- messages made (`created`; the claim's columns null), the claimed follow
-- (`created` null). 006's webhooks_insert_claim was dropped (008) because the
-- dispatcher's next lease waited for its claim; the dispatcher now runs two
-- passes at once and hands a process's own events over without a lease.
CREATE FUNCTION webhooks_fan_out_claim(p_event_ids text[], p_account_ids text[], p_types text[], p_scopes text[],
  p_data text[], p_occurred_at timestamptz[], p_delay_ms integer,
  p_limit integer, p_cap integer, p_lease_ms integer, p_recording text[])
RETURNS TABLE (created integer, id text, endpoint_id text, app_id text, event_id text, account_id text,
  installation_id text, trigger text, round_attempts integer, url text, enabled boolean, secret_ids text[],
  payload_type text, payload_data text, payload_occurred_at timestamptz)
LANGUAGE plpgsql
AS $$
DECLARE
  n integer;
BEGIN
  SELECT count(*) INTO n FROM webhooks_fan_out(p_event_ids, p_account_ids, p_types, p_scopes, p_data,
    p_occurred_at, p_delay_ms);
  RETURN QUERY SELECT n, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,
    NULL::integer, NULL::text, NULL::boolean, NULL::text[], NULL::text, NULL::text, NULL::timestamptz;
  IF n > 0 THEN
    RETURN QUERY SELECT NULL::integer, c.* FROM webhooks_claim(p_limit, p_cap, p_lease_ms, p_recording) c;
  END IF;
END $$;
