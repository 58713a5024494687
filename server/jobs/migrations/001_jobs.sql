-- The PostgreSQL job runner (server/jobs/postgres.ts). A row is one job from
-- enqueue until it finishes: completed jobs are deleted, failed ones stay as
-- the failed list until retried or superseded by a new job with the same key.
CREATE TABLE jobs (
  id text PRIMARY KEY,
  name text NOT NULL,
  data jsonb NOT NULL DEFAULT 'null',
  state text NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'active', 'failed')),
  -- Not before this time (delayed jobs, backoff between tries).
  run_at timestamptz NOT NULL DEFAULT now(),
  -- Tries started so far: a try whose worker died (lease expired) counts.
  attempts integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
  -- Deduplication key (JobOptions.jobId), unique per name among unfinished jobs.
  job_key text,
  -- The worker running it and until when; past locked_until another worker may take it.
  locked_by text,
  locked_until timestamptz,
  last_error text,
  created_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

CREATE UNIQUE INDEX jobs_pending_key ON jobs (name, job_key) WHERE state IN ('waiting', 'active');
CREATE INDEX jobs_due ON jobs (name, run_at) WHERE state = 'waiting';
CREATE INDEX jobs_leased ON jobs (locked_until) WHERE state = 'active';
CREATE INDEX jobs_failed ON jobs (finished_at DESC) WHERE state = 'failed';
