-- Which of a dispute's movements the ledger has, so events in any order post each once.
ALTER TABLE payments_disputes
  ADD COLUMN fee bigint NOT NULL DEFAULT 0,
  ADD COLUMN ledger_opened boolean NOT NULL DEFAULT false,
  ADD COLUMN ledger_closed boolean NOT NULL DEFAULT false;
