-- A platform charge may settle its organization's receivable (a plugin's invoice booked when it
-- was issued): its success credits customer_receivable(settles_party) instead of platform revenue.
ALTER TABLE payments_platform_charges ADD COLUMN settles_party text;
