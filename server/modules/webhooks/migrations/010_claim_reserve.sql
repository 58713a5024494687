-- Claims with a reserve. A slot of an endpoint at its cap used to wait, once
-- its POST was over, for a claim round trip before the next POST could start
-- (and the claim waited for the advisory lock and the claims before it): at
-- 50 slots to one endpoint the engine ran at a third of a raw POST loop. Now
-- the pump also leases up to p_reserve due messages of endpoints that are at
-- their cap after this claim, and keeps them: when one of its own attempts to
-- such an endpoint ends, it starts a reserved message of that endpoint in the
-- slot it frees, with no round trip; a claim refills the reserve meanwhile.
-- The cap stays exact across processes: a reserved message is leased, so
-- every other process counts it as in flight (more than it is, never less);
-- the claiming process leaves out of its own count the messages it reserves
-- or records (p_idle, as p_recording before) and starts a reserved one only
-- in place of one of its own attempts to the same endpoint. Rate-limited
-- endpoints get no reserve (the rate count is taken at the claim). Reserved
-- messages are leased for p_reserve_lease_ms (the pump starts them while at
-- least a whole attempt's lease is left, and gives them back when it stops);
-- a process that dies leaves them due again when their lease runs out, as any
-- claim. Rows: the claimed messages with `reserve` true for the reserve.
CREATE FUNCTION webhooks_claim_reserve(p_limit integer, p_cap integer, p_lease_ms integer, p_idle text[],
  p_reserve integer, p_reserve_lease_ms integer)
RETURNS TABLE (reserve boolean, id text, endpoint_id text, app_id text, event_id text, account_id text,
  installation_id text, trigger text, round_attempts integer, url text, enabled boolean, secret_ids text[],
  payload_type text, payload_data text, payload_occurred_at timestamptz)
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off SET enable_sort = off SET jit = off
AS $$
#variable_conflict use_column
BEGIN
  PERFORM pg_advisory_xact_lock(1886151034);
  RETURN QUERY
  WITH inflight AS (
    SELECT q.endpoint_id, count(*)::int AS n FROM webhook_queue q
    WHERE q.lease_until > now() AND q.message_id <> ALL (p_idle)
    GROUP BY q.endpoint_id),
  limited AS (
    SELECT e.id, e.rate_limit - CASE WHEN e.rate_window = date_trunc('second', now()) THEN e.rate_count ELSE 0 END
      AS room
    FROM webhook_endpoints e WHERE e.rate_limit IS NOT NULL),
  blocked AS (
    SELECT f.endpoint_id AS id FROM inflight f WHERE f.n >= p_cap
    UNION ALL SELECT l.id FROM limited l WHERE l.room <= 0),
  -- Endpoints at their cap are candidates too when a reserve is asked for (rate-limited ones only for a slot).
  candidates AS (
    SELECT q.message_id, q.endpoint_id, q.due_at FROM webhook_queue q
    WHERE q.due_at <= now()
      AND (q.endpoint_id <> ALL (coalesce((SELECT array_agg(b.id) FROM blocked b), '{}'))
        OR (p_reserve > 0 AND q.endpoint_id <> ALL (coalesce((SELECT array_agg(l.id) FROM limited l), '{}'))))
    ORDER BY q.due_at LIMIT (p_limit + p_reserve) * 2
    FOR UPDATE OF q SKIP LOCKED),
  ranked AS (
    SELECT c.message_id, c.endpoint_id, c.due_at,
      row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.due_at, c.message_id) AS rn,
      p_cap - coalesce(f.n, 0) AS free, l.room
    FROM candidates c
    LEFT JOIN inflight f ON f.endpoint_id = c.endpoint_id
    LEFT JOIN limited l ON l.id = c.endpoint_id),
  picked AS (
    SELECT r.message_id, r.endpoint_id FROM ranked r
    WHERE r.rn <= r.free AND (r.room IS NULL OR r.rn <= r.room)
    ORDER BY r.due_at LIMIT p_limit),
  -- Endpoints with no slot left once this claim's picks start.
  full_after AS (
    SELECT r.endpoint_id FROM ranked r
    WHERE r.room IS NULL AND r.free - (SELECT count(*) FROM picked p WHERE p.endpoint_id = r.endpoint_id) <= 0
    GROUP BY r.endpoint_id),
  reserved AS (
    SELECT r.message_id, r.endpoint_id FROM ranked r
    WHERE r.endpoint_id IN (SELECT endpoint_id FROM full_after)
      AND r.message_id NOT IN (SELECT p.message_id FROM picked p)
    ORDER BY r.due_at LIMIT p_reserve),
  chosen AS (
    SELECT p.message_id, false AS reserve FROM picked p
    UNION ALL SELECT r.message_id, true FROM reserved r),
  leased AS (
    UPDATE webhook_queue q
    SET lease_until = now() + CASE WHEN chosen.reserve THEN p_reserve_lease_ms ELSE p_lease_ms END * interval '1 millisecond',
      due_at = now() + CASE WHEN chosen.reserve THEN p_reserve_lease_ms ELSE p_lease_ms END * interval '1 millisecond'
    FROM chosen WHERE q.message_id = chosen.message_id
    RETURNING q.message_id, chosen.reserve),
  counted AS (
    UPDATE webhook_endpoints e SET rate_window = date_trunc('second', now()),
      rate_count = CASE WHEN e.rate_window = date_trunc('second', now()) THEN e.rate_count ELSE 0 END + p.n
    FROM (SELECT x.endpoint_id, count(*)::int AS n FROM picked x GROUP BY x.endpoint_id) p
    WHERE e.id = p.endpoint_id AND e.rate_limit IS NOT NULL)
  SELECT l.reserve, m.id, m.endpoint_id, m.app_id, m.event_id, m.account_id, m.installation_id, m.trigger,
    m.round_attempts, e.url, e.enabled,
    (SELECT array_agg(s.id ORDER BY s.created_at DESC) FROM webhook_endpoint_secrets s
     WHERE s.endpoint_id = m.endpoint_id AND (s.expires_at IS NULL OR s.expires_at > now())),
    p.type, p.data, p.occurred_at
  FROM leased l JOIN webhook_messages m ON m.id = l.message_id
  JOIN webhook_endpoints e ON e.id = m.endpoint_id
  LEFT JOIN webhook_payloads p ON p.id = m.event_id;
END $$;
