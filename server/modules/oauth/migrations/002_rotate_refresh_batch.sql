-- Refresh-token rotations written together (adapter.ts, writeRotations): the
-- rotations a process has waiting go to PostgreSQL in one statement and one
-- commit instead of one each. Each is the single-token statement of before,
-- in the order given, so two rotations of one token in a batch still cannot
-- both win (the second finds it used). Returns the replacements written.
CREATE FUNCTION oauth_rotate_refresh(p_old text[], p_new text[], p_payload text[], p_grant text[],
  p_expires_in bigint[], p_jti text[], p_access_exp double precision[])
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
  i integer;
  written text;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_old, 1), 0) LOOP
    written := NULL;
    WITH used AS (
      UPDATE oauth_payloads SET consumed_at = now(), replaced_by = p_new[i]
      WHERE model = 'RefreshToken' AND id = p_old[i] AND consumed_at IS NULL
        AND (expires_at IS NULL OR expires_at > now())
        AND (p_grant[i] IS NULL OR EXISTS (SELECT 1 FROM oauth_payloads g
          WHERE g.model = 'Grant' AND g.id = p_grant[i] AND (g.expires_at IS NULL OR g.expires_at > now())))
      RETURNING id)
    INSERT INTO oauth_payloads (model, id, payload, grant_id, expires_at, access_jti, access_expires_at)
    SELECT 'RefreshToken', p_new[i], p_payload[i]::jsonb, p_grant[i],
      CASE WHEN p_expires_in[i] IS NULL THEN NULL ELSE now() + make_interval(secs => p_expires_in[i]) END,
      p_jti[i], to_timestamp(p_access_exp[i])
    FROM used
    RETURNING id INTO written;
    IF written IS NOT NULL THEN
      RETURN NEXT written;
    END IF;
  END LOOP;
END $$;
