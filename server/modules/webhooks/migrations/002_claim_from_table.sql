-- Delivery claims due messages straight from webhook_messages (no queue job
-- per message): the job sequence and the "waiting for a slot" counter go.
DROP INDEX IF EXISTS webhook_messages_deferred_idx;
ALTER TABLE webhook_messages DROP COLUMN IF EXISTS job_seq;
ALTER TABLE webhook_messages DROP COLUMN IF EXISTS deferrals;
-- A claim reads the room left of rate-limited endpoints only.
CREATE INDEX webhook_endpoints_rate_limited_idx ON webhook_endpoints (id) WHERE rate_limit IS NOT NULL;
-- A claim counts the attempts in flight (leases not yet over) per endpoint.
DROP INDEX IF EXISTS webhook_messages_leased_idx;
CREATE INDEX webhook_messages_lease_idx ON webhook_messages (lease_until, endpoint_id) WHERE lease_until IS NOT NULL;

-- Leases up to p_limit due messages, oldest due first, for the delivery pump:
-- skips endpoints that already have p_cap attempts in flight (leases not over,
-- except p_recording: attempts whose POST is over and whose result is being
-- written) or used their rate limit for this second, and takes no more of one
-- endpoint than it has room for. The lease moves next_attempt_at to its end,
-- so a message whose worker died is due again then.
-- One function, one round trip: the advisory lock serialises claims across
-- processes (the per-endpoint count stays exact) and each statement inside
-- sees what committed before it. The SET clauses make the plan walk the due
-- index in order and stop at the limit whatever the statistics say (a burst of
-- new rows is not analyzed yet); JIT off because those costs would trigger it.
CREATE FUNCTION webhooks_claim(p_limit integer, p_cap integer, p_lease_ms integer, p_recording text[])
RETURNS TABLE (id text, endpoint_id text, app_id text, event_id text, account_id text, installation_id text,
  trigger text, round_attempts integer, url text, enabled boolean, secret_ids text[], payload_type text,
  payload_data text, payload_occurred_at timestamptz)
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off SET jit = off
AS $$
#variable_conflict use_column
BEGIN
  PERFORM pg_advisory_xact_lock(1886151034);
  RETURN QUERY
  WITH inflight AS (
    SELECT w.endpoint_id, count(*)::int AS n FROM webhook_messages w
    WHERE w.lease_until > now() AND w.id <> ALL (p_recording)
    GROUP BY w.endpoint_id),
  limited AS (
    SELECT e.id, e.rate_limit - CASE WHEN e.rate_window = date_trunc('second', now()) THEN e.rate_count ELSE 0 END
      AS room
    FROM webhook_endpoints e WHERE e.rate_limit IS NOT NULL),
  blocked AS (
    SELECT f.endpoint_id AS id FROM inflight f WHERE f.n >= p_cap
    UNION ALL SELECT l.id FROM limited l WHERE l.room <= 0),
  candidates AS (
    SELECT m.id, m.endpoint_id, m.next_attempt_at FROM webhook_messages m
    WHERE m.state = 'pending' AND m.next_attempt_at <= now()
      AND m.endpoint_id <> ALL (coalesce((SELECT array_agg(b.id) FROM blocked b), '{}'))
    ORDER BY m.next_attempt_at LIMIT p_limit * 2
    FOR UPDATE OF m SKIP LOCKED),
  picked AS (
    SELECT c.id, c.endpoint_id FROM (
      SELECT c.*, row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.next_attempt_at, c.id) AS rn
      FROM candidates c) c
    LEFT JOIN inflight f ON f.endpoint_id = c.endpoint_id
    LEFT JOIN limited l ON l.id = c.endpoint_id
    WHERE c.rn <= p_cap - coalesce(f.n, 0) AND (l.id IS NULL OR c.rn <= l.room)
    ORDER BY c.next_attempt_at LIMIT p_limit),
  leased AS (
    UPDATE webhook_messages m SET lease_until = now() + p_lease_ms * interval '1 millisecond',
      next_attempt_at = now() + p_lease_ms * interval '1 millisecond'
    FROM picked WHERE m.id = picked.id
    RETURNING m.id, m.endpoint_id, m.app_id, m.event_id, m.account_id, m.installation_id, m.trigger,
      m.round_attempts),
  counted AS (
    UPDATE webhook_endpoints e SET rate_window = date_trunc('second', now()),
      rate_count = CASE WHEN e.rate_window = date_trunc('second', now()) THEN e.rate_count ELSE 0 END + p.n
    FROM (SELECT x.endpoint_id, count(*)::int AS n FROM picked x GROUP BY x.endpoint_id) p
    WHERE e.id = p.endpoint_id AND e.rate_limit IS NOT NULL)
  SELECT l.id, l.endpoint_id, l.app_id, l.event_id, l.account_id, l.installation_id, l.trigger, l.round_attempts,
    e.url, e.enabled,
    (SELECT array_agg(s.id ORDER BY s.created_at DESC) FROM webhook_endpoint_secrets s
     WHERE s.endpoint_id = l.endpoint_id AND (s.expires_at IS NULL OR s.expires_at > now())),
    p.type, p.data, p.occurred_at
  FROM leased l JOIN webhook_endpoints e ON e.id = l.endpoint_id
  LEFT JOIN webhook_payloads p ON p.id = l.event_id;
END $$;
