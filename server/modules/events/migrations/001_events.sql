-- The outbox: an event row commits with the change it describes.
CREATE TABLE events (
  id text PRIMARY KEY,
  organization_id text,
  type text NOT NULL,
  payload jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  -- A dispatcher holds the event until then while it enqueues deliveries; if it dies, another takes over.
  dispatch_lease_until timestamptz,
  -- Set once every subscriber's delivery job is enqueued.
  dispatched_at timestamptz
);
CREATE INDEX events_pending_idx ON events (id) WHERE dispatched_at IS NULL;
CREATE INDEX events_org_idx ON events (organization_id, id);
