-- How many contacts each account has, kept by the database as contacts are
-- written, so the soft limit (PLAZA_CONTACTS_MAX_PER_ACCOUNT), a plan's limit
-- and the page header read a few rows instead of counting the account's
-- contacts at every create (0.5 ms at 1,700 contacts, tens of ms at 100,000).
-- An account's count is spread over up to 16 slots, each statement adding to a
-- random one, so concurrent creates in one account rarely wait on the same row;
-- the count is the sum of the slots.
CREATE TABLE contact_counts (
  organization_id text NOT NULL,
  slot smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
  n integer NOT NULL,
  PRIMARY KEY (organization_id, slot)
);

INSERT INTO contact_counts (organization_id, slot, n)
SELECT organization_id, 0, count(*) FROM contacts GROUP BY organization_id;

-- Statement-level (transition tables): a bulk write changes each account's count once.
CREATE FUNCTION contact_counts_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO contact_counts AS c (organization_id, slot, n)
  SELECT organization_id, floor(random() * 16)::smallint, count(*) FROM changed GROUP BY organization_id
  ORDER BY organization_id
  ON CONFLICT (organization_id, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
  RETURN NULL;
END $$;

CREATE FUNCTION contact_counts_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO contact_counts AS c (organization_id, slot, n)
  SELECT organization_id, floor(random() * 16)::smallint, -count(*) FROM changed GROUP BY organization_id
  ORDER BY organization_id
  ON CONFLICT (organization_id, slot) DO UPDATE SET n = c.n + EXCLUDED.n;
  RETURN NULL;
END $$;

CREATE TRIGGER contacts_counted_insert AFTER INSERT ON contacts
  REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION contact_counts_add();
CREATE TRIGGER contacts_counted_delete AFTER DELETE ON contacts
  REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION contact_counts_remove();
