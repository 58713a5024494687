-- Agency rebilling in the books: the part of a fee line that is the agency's markup over the
-- plan's price, and the agency it is owed to. Finalizing the invoice credits it to the agency
-- (ledger partner_pending) instead of platform revenue.
ALTER TABLE billing_invoice_lines ADD COLUMN agency_id text;
ALTER TABLE billing_invoice_lines ADD COLUMN agency_markup bigint CHECK (agency_markup > 0);
ALTER TABLE billing_invoice_lines ADD CONSTRAINT billing_invoice_lines_agency_markup
  CHECK ((agency_id IS NULL) = (agency_markup IS NULL) AND (agency_markup IS NULL OR agency_markup <= amount));
