-- Webhook endpoints of apps. organization_id is the app's developer organization.
CREATE TABLE webhook_endpoints (
  id text PRIMARY KEY,
  app_id text NOT NULL,
  organization_id text NOT NULL,
  url text NOT NULL,
  description text NOT NULL DEFAULT '',
  -- Event types it receives; empty: every type the app may receive.
  event_types text[] NOT NULL DEFAULT '{}',
  -- Installations it is limited to; empty: all of the app's installations.
  installation_ids text[] NOT NULL DEFAULT '{}',
  enabled boolean NOT NULL DEFAULT true,
  disabled_reason text CHECK (disabled_reason IN ('manual', 'gone', 'failing')),
  disabled_at timestamptz,
  -- Messages per second (null: no limit), counted in one-second windows.
  rate_limit integer CHECK (rate_limit > 0),
  rate_window timestamptz,
  rate_count integer NOT NULL DEFAULT 0,
  -- Health: the first failure of the current run of failures, and its length.
  failing_since timestamptz,
  consecutive_failures integer NOT NULL DEFAULT 0,
  last_attempt_at timestamptz,
  last_success_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CHECK (enabled = (disabled_reason IS NULL))
);
CREATE INDEX webhook_endpoints_app_idx ON webhook_endpoints (app_id, id);
CREATE INDEX webhook_endpoints_org_idx ON webhook_endpoints (organization_id, id);

-- Signing secrets, sealed with the webhooks key. After a rotation the old one
-- keeps signing (a second signature) until expires_at.
CREATE TABLE webhook_endpoint_secrets (
  id text PRIMARY KEY,
  endpoint_id text NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  sealed text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz
);
CREATE INDEX webhook_endpoint_secrets_endpoint_idx ON webhook_endpoint_secrets (endpoint_id, created_at DESC);

-- One payload per event (or test event), shared by all its messages; the body
-- of a message is built from it, byte for byte the same on every attempt.
CREATE TABLE webhook_payloads (
  id text PRIMARY KEY,
  type text NOT NULL,
  account_id text,
  data text NOT NULL,
  occurred_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_payloads_created_idx ON webhook_payloads (created_at);

-- A message is one event for one endpoint: the source of truth of delivery.
-- The queue only carries "look at message X now"; the sweeper queues again
-- whatever is due and not leased.
CREATE TABLE webhook_messages (
  id text PRIMARY KEY,
  endpoint_id text NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
  app_id text NOT NULL,
  event_id text NOT NULL,
  event_type text NOT NULL,
  account_id text,
  installation_id text,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  -- Attempts made in all; attempts of the current round (a replay starts a new round).
  attempts integer NOT NULL DEFAULT 0,
  round_attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  -- Held by the worker making an attempt; past it, the sweeper may queue the message again.
  lease_until timestamptz,
  -- Bumped at each scheduling: the queue job id is `<id>.<job_seq>`.
  job_seq integer NOT NULL DEFAULT 0,
  -- Times it waited for a free slot of its endpoint (concurrency cap, rate limit) since its last attempt.
  deferrals integer NOT NULL DEFAULT 0,
  -- What started the current round of attempts: the event, a replay, a test.
  trigger text NOT NULL DEFAULT 'scheduled' CHECK (trigger IN ('scheduled', 'replay', 'test')),
  last_attempt_at timestamptz,
  last_status integer,
  last_error text,
  delivered_at timestamptz,
  failed_at timestamptz,
  failure_reason text,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (event_id, endpoint_id),
  CHECK ((state = 'pending') = (next_attempt_at IS NOT NULL))
);
CREATE INDEX webhook_messages_due_idx ON webhook_messages (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_messages_leased_idx ON webhook_messages (endpoint_id) WHERE lease_until IS NOT NULL;
CREATE INDEX webhook_messages_deferred_idx ON webhook_messages (endpoint_id, id) WHERE state = 'pending' AND deferrals > 0;
CREATE INDEX webhook_messages_app_idx ON webhook_messages (app_id, id);
CREATE INDEX webhook_messages_endpoint_idx ON webhook_messages (endpoint_id, id);
CREATE INDEX webhook_messages_failed_idx ON webhook_messages (endpoint_id, failed_at) WHERE state = 'failed';
CREATE INDEX webhook_messages_created_idx ON webhook_messages (created_at);

-- Every HTTP try of a message.
CREATE TABLE webhook_attempts (
  id text PRIMARY KEY,
  message_id text NOT NULL REFERENCES webhook_messages(id) ON DELETE CASCADE,
  endpoint_id text NOT NULL,
  app_id text NOT NULL,
  url text NOT NULL,
  started_at timestamptz NOT NULL,
  duration_ms integer NOT NULL,
  status_code integer,
  success boolean NOT NULL,
  -- The first 4 KB of the answer, and the network error when there was no answer.
  response_body text,
  error text,
  trigger text NOT NULL DEFAULT 'scheduled' CHECK (trigger IN ('scheduled', 'replay', 'test'))
);
CREATE INDEX webhook_attempts_message_idx ON webhook_attempts (message_id, id);
CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (endpoint_id, started_at);

-- Event types an account admin muted for one installation.
CREATE TABLE webhook_mutes (
  installation_id text NOT NULL,
  event_type text NOT NULL,
  account_id text NOT NULL,
  created_by text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (installation_id, event_type)
);
