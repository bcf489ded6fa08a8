-- Issue 18: the buyer's SIREN and e-invoicing address on billing addresses
-- (and on their revisions and change requests, which carry the same fields).
ALTER TABLE billing_addresses ADD COLUMN siren TEXT;
ALTER TABLE billing_addresses ADD COLUMN e_invoicing_address TEXT;
ALTER TABLE billing_address_revisions ADD COLUMN siren TEXT;
ALTER TABLE billing_address_revisions ADD COLUMN e_invoicing_address TEXT;
ALTER TABLE billing_address_change_requests ADD COLUMN siren TEXT;
ALTER TABLE billing_address_change_requests ADD COLUMN e_invoicing_address TEXT;
