-- Set-based reads of installations for other modules' SQL (webhook fan-out and
-- replay), so that they name these functions instead of this table. Each is a
-- single-SELECT SQL function, STABLE and not STRICT: PostgreSQL inlines it into
-- the calling query, so `JOIN LATERAL installations_active_with_scope(...)` over
-- a batch of events stays one statement with the plan of a plain join.

-- Active installations in an account that were granted a scope.
CREATE FUNCTION installations_active_with_scope(p_account_id text, p_scope text)
RETURNS TABLE (id text, app_id text)
LANGUAGE sql STABLE
AS $$
  SELECT i.id, i.app_id FROM installations i
  WHERE i.account_id = p_account_id AND i.status = 'active' AND p_scope = ANY (i.granted_scopes)
$$;

-- The installation of an app in an account: the active one, else the newest.
CREATE FUNCTION installations_current(p_app_id text, p_account_id text)
RETURNS TABLE (id text)
LANGUAGE sql STABLE
AS $$
  SELECT i.id FROM installations i
  WHERE i.app_id = p_app_id AND i.account_id = p_account_id
  ORDER BY (i.status = 'active') DESC, i.created_at DESC
  LIMIT 1
$$;

-- The installation of an app in an account that was open at a moment, with
-- the scopes it holds now (replaying what an endpoint would have received).
CREATE FUNCTION installations_open_at(p_app_id text, p_account_id text, p_at timestamptz)
RETURNS TABLE (id text, granted_scopes text[])
LANGUAGE sql STABLE
AS $$
  SELECT i.id, i.granted_scopes FROM installations i
  WHERE i.app_id = p_app_id AND i.account_id = p_account_id
    AND i.created_at <= p_at AND (i.uninstalled_at IS NULL OR i.uninstalled_at >= p_at)
  ORDER BY i.created_at DESC
  LIMIT 1
$$;
