-- Recurring jobs (JobQueue.repeat): the next run of each; the worker that moves
-- next_run_at forward in one UPDATE is the one that enqueues that run.
CREATE TABLE job_schedules (
  name text PRIMARY KEY,
  every_ms integer NOT NULL CHECK (every_ms > 0),
  next_run_at timestamptz NOT NULL
);
