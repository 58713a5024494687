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
