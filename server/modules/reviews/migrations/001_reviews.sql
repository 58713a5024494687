-- One row per submission of an app version: the automated check results, the
-- reviewer's claim, checklist and decision. The queue, queue positions and the
-- median review time are read from here; app_versions.state (apps module)
-- moves in the same transactions.
CREATE TABLE review_submissions (
  id text PRIMARY KEY,
  app_id text NOT NULL,
  version_id text NOT NULL,
  organization_id text NOT NULL,
  status text NOT NULL CHECK (status IN ('checking', 'checks_failed', 'withdrawn', 'queued', 'in_review', 'approved', 'changes_requested')),
  review_kind text NOT NULL CHECK (review_kind IN ('full', 'fast_track')),
  review_reasons jsonb NOT NULL DEFAULT '[]',
  submitted_by text,
  submitted_at timestamptz NOT NULL DEFAULT now(),
  checks jsonb NOT NULL DEFAULT '[]',
  checks_completed_at timestamptz,
  claimed_by text,
  claimed_by_email text,
  claimed_at timestamptz,
  decided_by text,
  decided_by_email text,
  decided_at timestamptz,
  decision text CHECK (decision IN ('approved', 'changes_requested')),
  checklist jsonb,
  notes jsonb NOT NULL DEFAULT '[]',
  comment text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX review_submissions_one_active ON review_submissions (version_id)
  WHERE status IN ('checking', 'queued', 'in_review');
CREATE INDEX review_submissions_queue_idx ON review_submissions (status, submitted_at, id);
CREATE INDEX review_submissions_version_idx ON review_submissions (version_id, submitted_at DESC);
CREATE INDEX review_submissions_decided_idx ON review_submissions (decided_at) WHERE decided_at IS NOT NULL;
