-- Emails kept for the dev mailbox page (only when PLAZA_DEV_MAILBOX is on).
CREATE TABLE dev_mailbox (
  id text PRIMARY KEY,
  to_address text NOT NULL,
  subject text NOT NULL,
  text_body text NOT NULL,
  html_body text,
  created_at timestamptz NOT NULL DEFAULT now()
);
