-- A payout line may come from a plugin's own invoice (ledger postPartnerShares: an agency's
-- markup on a billing invoice), not only from an app charge: its invoice_id is then the ledger
-- transaction's idempotency key, with no ledger_charges row. Payout runs read the charge with a
-- LEFT JOIN (no source transaction for such a line's transfer).
ALTER TABLE ledger_partner_lines DROP CONSTRAINT ledger_partner_lines_invoice_id_fkey;
