-- Committed events of some types in a time range, for other modules' SQL
-- (webhook replay) so that they name this function instead of the outbox
-- table. A single-SELECT SQL function, STABLE and not STRICT: PostgreSQL
-- inlines it, so the caller's ORDER BY id LIMIT still walks the index.
CREATE FUNCTION events_between(p_since timestamptz, p_until timestamptz, p_types text[])
RETURNS TABLE (id text, type text, organization_id text, payload jsonb, created_at timestamptz)
LANGUAGE sql STABLE
AS $$
  SELECT e.id, e.type, e.organization_id, e.payload, e.created_at FROM events e
  WHERE e.created_at >= p_since AND (p_until IS NULL OR e.created_at < p_until) AND e.type = ANY (p_types)
$$;
