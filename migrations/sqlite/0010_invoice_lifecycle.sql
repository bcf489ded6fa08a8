-- The invoice lifecycle (SPEC.md section 10): drafts, then numbered invoices
-- dated the day they are finalized; every billable item knows the invoice
-- that billed it, so nothing is billed twice and nothing is lost.

-- A billing run's draft: no number, recomputed whenever read, finalized
-- (moved into `invoices` under the same id) once `finalize_after` has passed.
-- `invoices` keeps only numbered legal documents.
CREATE TABLE invoice_drafts (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    -- The month billed, YYYY-MM: its recurring lines, and everything unbilled before its 1st.
    period          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    -- created_at + COMPTOIR_INVOICE_GRACE.
    finalize_after  TEXT NOT NULL,
    UNIQUE (account_id, period)
);

CREATE INDEX invoice_drafts_due ON invoice_drafts (finalize_after, id);

-- Licenses and numbers: the invoice that billed their proration; the 1st of
-- the first month not yet settled in advance (every month before it is
-- billed or was not owed), with the invoice that last billed a month.
ALTER TABLE licenses ADD COLUMN proration_invoice_id TEXT REFERENCES invoices (id);
ALTER TABLE licenses ADD COLUMN billed_until TEXT;
ALTER TABLE licenses ADD COLUMN billed_invoice_id TEXT REFERENCES invoices (id);
ALTER TABLE phone_numbers ADD COLUMN proration_invoice_id TEXT REFERENCES invoices (id);
ALTER TABLE phone_numbers ADD COLUMN billed_until TEXT;
ALTER TABLE phone_numbers ADD COLUMN billed_invoice_id TEXT REFERENCES invoices (id);

-- Consumption: the invoice that billed each billable record, and per hour
-- how much of it is billed (so a draft sums unbilled hours, not records).
ALTER TABLE consumption_records ADD COLUMN invoice_id TEXT REFERENCES invoices (id);
ALTER TABLE consumption_billable_hours ADD COLUMN billed_records BIGINT NOT NULL DEFAULT 0;
ALTER TABLE consumption_billable_hours ADD COLUMN billed_minor BIGINT NOT NULL DEFAULT 0;

-- What invoices issued before this migration billed, as their rules were:
-- the proration on the invoice of the month after activation, recurring
-- months up to the latest invoice, consumption on the first invoice of a
-- later month.
UPDATE licenses SET proration_invoice_id = (
    SELECT i.id FROM invoices i WHERE i.account_id = licenses.account_id
    AND i.period = strftime('%Y-%m', licenses.activation_date, 'start of month', '+1 month'));
UPDATE licenses SET billed_until = (
    SELECT date(MAX(i.period) || '-01', '+1 month') FROM invoices i WHERE i.account_id = licenses.account_id
    AND i.period || '-01' > licenses.activation_date
    AND (licenses.removal_date IS NULL OR licenses.removal_date >= i.period || '-01'));
UPDATE licenses SET billed_invoice_id = (
    SELECT i.id FROM invoices i WHERE i.account_id = licenses.account_id
    AND date(i.period || '-01', '+1 month') = licenses.billed_until);
UPDATE phone_numbers SET proration_invoice_id = (
    SELECT i.id FROM invoices i WHERE i.account_id = phone_numbers.account_id
    AND i.period = strftime('%Y-%m', phone_numbers.activation_date, 'start of month', '+1 month'));
UPDATE phone_numbers SET billed_until = (
    SELECT date(MAX(i.period) || '-01', '+1 month') FROM invoices i WHERE i.account_id = phone_numbers.account_id
    AND i.period || '-01' > phone_numbers.activation_date
    AND (phone_numbers.removal_date IS NULL OR phone_numbers.removal_date >= i.period || '-01'));
UPDATE phone_numbers SET billed_invoice_id = (
    SELECT i.id FROM invoices i WHERE i.account_id = phone_numbers.account_id
    AND date(i.period || '-01', '+1 month') = phone_numbers.billed_until);
UPDATE consumption_records SET invoice_id = (
    SELECT i.id FROM invoices i WHERE i.account_id = consumption_records.account_id
    AND i.period > strftime('%Y-%m', consumption_records.occurred_at) ORDER BY i.period LIMIT 1)
WHERE billable_minor > 0;
UPDATE consumption_billable_hours SET
    billed_records = (SELECT COUNT(*) FROM consumption_records r
        WHERE r.account_id = consumption_billable_hours.account_id AND r.invoice_id IS NOT NULL
        AND r.billable_minor > 0
        AND (unixepoch(r.occurred_at) - ((unixepoch(r.occurred_at) % 3600) + 3600) % 3600) / 3600 = consumption_billable_hours.epoch_hour),
    billed_minor = (SELECT COALESCE(SUM(r.billable_minor), 0) FROM consumption_records r
        WHERE r.account_id = consumption_billable_hours.account_id AND r.invoice_id IS NOT NULL
        AND r.billable_minor > 0
        AND (unixepoch(r.occurred_at) - ((unixepoch(r.occurred_at) % 3600) + 3600) % 3600) / 3600 = consumption_billable_hours.epoch_hour);

-- What a draft and a finalization read: only what is still unbilled.
CREATE INDEX consumption_unbilled ON consumption_records (account_id, occurred_at)
    WHERE invoice_id IS NULL AND billable_minor > 0;
CREATE INDEX consumption_hours_unbilled ON consumption_billable_hours (account_id, epoch_hour)
    WHERE billed_minor < billable_minor;

-- The grouping an invoice reads, with what is billed of each item.
DROP INDEX licenses_billable;
DROP INDEX phone_numbers_billable;
CREATE INDEX licenses_billable ON licenses (account_id, plan_code, activation_date, removal_date, prorated_amount_minor, billed_until, proration_invoice_id);
CREATE INDEX phone_numbers_billable ON phone_numbers (account_id, removal_date, activation_date, prorated_amount_minor, billed_until, proration_invoice_id);
