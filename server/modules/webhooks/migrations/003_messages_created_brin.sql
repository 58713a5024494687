-- Only retention reads webhook_messages by created_at, hourly and in batches.
-- A B-tree there took a new entry at every non-HOT update of a message (two
-- per delivery: the claim and the result); a BRIN summary serves retention at
-- next to no upkeep (rows arrive in created_at order).
DROP INDEX IF EXISTS webhook_messages_created_idx;
CREATE INDEX webhook_messages_created_brin ON webhook_messages USING brin (created_at);
