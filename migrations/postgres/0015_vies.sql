-- The check of each billing address's VAT number (SPEC.md section 10): the
-- last conclusive result of VIES or of staff's manual verification, or
-- `unavailable` when VIES never answered for this number, and the last
-- attempt. All NULL: never checked.
ALTER TABLE billing_addresses ADD COLUMN vat_check_status TEXT
    CHECK (vat_check_status IN ('valid', 'invalid', 'unavailable', 'manual'));
ALTER TABLE billing_addresses ADD COLUMN vat_checked_at TIMESTAMPTZ;
ALTER TABLE billing_addresses ADD COLUMN vat_consultation_number TEXT;
ALTER TABLE billing_addresses ADD COLUMN vat_check_reason TEXT;
ALTER TABLE billing_addresses ADD COLUMN vat_last_attempt_at TIMESTAMPTZ;
ALTER TABLE billing_addresses ADD COLUMN vat_last_attempt_error TEXT;
