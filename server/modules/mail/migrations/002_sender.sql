-- The sender and reply-to of each kept email: a white-labelled email names the agency, not the platform.
ALTER TABLE dev_mailbox ADD COLUMN from_address text, ADD COLUMN reply_to text;
