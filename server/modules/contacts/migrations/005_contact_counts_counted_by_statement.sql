-- An app's create (POST /v1/contacts, one autocommitted statement) adds to its
-- account's count itself, in the same statement as the row (a free slot, SKIP
-- LOCKED, as contact_counts_keep picks one), and says so for its transaction
-- with set_config('plaza.contacts_counted', 'on', true). The insert trigger
-- then does not fire: the trigger (plpgsql, a GROUP BY over the transition
-- table, then its UPDATE) was 15% of the PostgreSQL CPU of that create under
-- load (perf, the API's backends at 300 creates/s). Every other write (the
-- web app's creates, samples, bulk SQL, deletes) is counted by the trigger as
-- before. The setting is local to the transaction, so it ends with the
-- statement that set it (only the autocommitted app create sets it).
CREATE OR REPLACE TRIGGER contacts_counted_insert AFTER INSERT ON contacts
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT
  WHEN (current_setting('plaza.contacts_counted', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION contact_counts_keep();
