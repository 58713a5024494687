-- The delivery queue moves out of webhook_messages into a narrow table of its
-- own: one row per pending message (when it is due, and the lease of the
-- attempt in flight). A claim leased messages by updating two indexed columns
-- of webhook_messages and recording moved them on through indexed columns
-- again: two non-HOT updates per delivery, each adding an entry to all eight
-- indexes of the wide row. Now a claim updates the queue row (three small
-- indexes), and the result deletes it (or moves it to the next attempt) and
-- updates the message through columns no index of webhook_messages reads, so
-- that update is HOT (fillfactor leaves room on the page for the new version).
-- The invariant: a message has a queue row exactly while its state is 'pending'.
CREATE TABLE webhook_queue (
  message_id text PRIMARY KEY REFERENCES webhook_messages(id) ON DELETE CASCADE,
  endpoint_id text NOT NULL,
  -- The next attempt; a claim moves it to the end of its lease, so a message
  -- whose worker died is due again then.
  due_at timestamptz NOT NULL,
  -- Held by the worker making an attempt (counted against the endpoint's cap).
  lease_until timestamptz
);
CREATE INDEX webhook_queue_due_idx ON webhook_queue (due_at);
CREATE INDEX webhook_queue_lease_idx ON webhook_queue (lease_until, endpoint_id) WHERE lease_until IS NOT NULL;

INSERT INTO webhook_queue (message_id, endpoint_id, due_at, lease_until)
SELECT id, endpoint_id, greatest(next_attempt_at, lease_until), lease_until
FROM webhook_messages WHERE state = 'pending';

DROP INDEX IF EXISTS webhook_messages_due_idx;
DROP INDEX IF EXISTS webhook_messages_lease_idx;
ALTER TABLE webhook_messages DROP COLUMN lease_until;
-- Dead letters by endpoint: the predicate on failed_at (set exactly when the
-- state is 'failed') instead of state, which every delivery changes.
DROP INDEX IF EXISTS webhook_messages_failed_idx;
CREATE INDEX webhook_messages_failed_idx ON webhook_messages (endpoint_id, failed_at) WHERE failed_at IS NOT NULL;
ALTER TABLE webhook_messages SET (fillfactor = 60);

-- Leases up to p_limit due messages (see 002): the same rules, read from and
-- written to webhook_queue; webhook_messages is only read.
CREATE OR REPLACE FUNCTION webhooks_claim(p_limit integer, p_cap integer, p_lease_ms integer, p_recording text[])
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
    SELECT q.endpoint_id, count(*)::int AS n FROM webhook_queue q
    WHERE q.lease_until > now() AND q.message_id <> ALL (p_recording)
    GROUP BY q.endpoint_id),
  limited AS (
    SELECT e.id, e.rate_limit - CASE WHEN e.rate_window = date_trunc('second', now()) THEN e.rate_count ELSE 0 END
      AS room
    FROM webhook_endpoints e WHERE e.rate_limit IS NOT NULL),
  blocked AS (
    SELECT f.endpoint_id AS id FROM inflight f WHERE f.n >= p_cap
    UNION ALL SELECT l.id FROM limited l WHERE l.room <= 0),
  candidates AS (
    SELECT q.message_id, q.endpoint_id, q.due_at FROM webhook_queue q
    WHERE q.due_at <= now()
      AND q.endpoint_id <> ALL (coalesce((SELECT array_agg(b.id) FROM blocked b), '{}'))
    ORDER BY q.due_at LIMIT p_limit * 2
    FOR UPDATE OF q SKIP LOCKED),
  picked AS (
    SELECT c.message_id, c.endpoint_id FROM (
      SELECT c.*, row_number() OVER (PARTITION BY c.endpoint_id ORDER BY c.due_at, c.message_id) AS rn
      FROM candidates c) c
    LEFT JOIN inflight f ON f.endpoint_id = c.endpoint_id
    LEFT JOIN limited l ON l.id = c.endpoint_id
    WHERE c.rn <= p_cap - coalesce(f.n, 0) AND (l.id IS NULL OR c.rn <= l.room)
    ORDER BY c.due_at LIMIT p_limit),
  leased AS (
    UPDATE webhook_queue q SET lease_until = now() + p_lease_ms * interval '1 millisecond',
      due_at = now() + p_lease_ms * interval '1 millisecond'
    FROM picked WHERE q.message_id = picked.message_id
    RETURNING q.message_id),
  counted AS (
    UPDATE webhook_endpoints e SET rate_window = date_trunc('second', now()),
      rate_count = CASE WHEN e.rate_window = date_trunc('second', now()) THEN e.rate_count ELSE 0 END + p.n
    FROM (SELECT x.endpoint_id, count(*)::int AS n FROM picked x GROUP BY x.endpoint_id) p
    WHERE e.id = p.endpoint_id AND e.rate_limit IS NOT NULL)
  SELECT m.id, m.endpoint_id, m.app_id, m.event_id, m.account_id, m.installation_id, m.trigger, m.round_attempts,
    e.url, e.enabled,
    (SELECT array_agg(s.id ORDER BY s.created_at DESC) FROM webhook_endpoint_secrets s
     WHERE s.endpoint_id = m.endpoint_id AND (s.expires_at IS NULL OR s.expires_at > now())),
    p.type, p.data, p.occurred_at
  FROM leased l JOIN webhook_messages m ON m.id = l.message_id
  JOIN webhook_endpoints e ON e.id = m.endpoint_id
  LEFT JOIN webhook_payloads p ON p.id = m.event_id;
END $$;
