-- Prepaid credits carry their VAT (SPEC.md section 10, "Prepaid credits and
-- VAT"): a top-up is charged its amount plus VAT and, once paid, issues an
-- advance payment invoice (facture d'acompte) in the invoice series; the
-- monthly invoice bills consumption in full, covered by credits or not, and
-- deducts what the acomptes already paid.

-- An invoice is a monthly one (`period`) or an acompte (`advance`). Only
-- monthly invoices are "one per account and period"; acomptes are as many
-- as the top-ups that succeeded.
ALTER TABLE invoices ADD COLUMN kind TEXT NOT NULL DEFAULT 'period' CHECK (kind IN ('period', 'advance'));
DROP INDEX invoices_open_period;
CREATE UNIQUE INDEX invoices_open_period ON invoices (account_id, period) WHERE status <> 'credited' AND kind = 'period';
-- The acomptes a finalization draws on, oldest first.
CREATE INDEX invoices_advance ON invoices (account_id, issue_date, number) WHERE kind = 'advance';

-- What a top-up is charged: `amount_minor` (the credits, excluding VAT) plus
-- `tax_minor`, by the VAT it was charged (JSON: treatment and rate; NULL for
-- top-ups made before VAT was charged on them), and the acompte its payment
-- issued.
ALTER TABLE top_ups ADD COLUMN tax_minor BIGINT NOT NULL DEFAULT 0 CHECK (tax_minor >= 0);
ALTER TABLE top_ups ADD COLUMN tax TEXT;
ALTER TABLE top_ups ADD COLUMN invoice_id TEXT REFERENCES invoices (id);

-- What a monthly invoice deducted from each acompte, written when it is
-- finalized: an acompte's allocations never add up to more than its amount
-- (checked under the account's lock).
CREATE TABLE advance_allocations (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    advance_invoice_id  TEXT NOT NULL REFERENCES invoices (id),
    invoice_id          TEXT NOT NULL REFERENCES invoices (id),
    -- Excluding VAT, and the acompte's VAT on it.
    amount_minor        BIGINT NOT NULL CHECK (amount_minor > 0),
    tax_minor           BIGINT NOT NULL CHECK (tax_minor >= 0),
    created_at          TEXT NOT NULL,
    UNIQUE (advance_invoice_id, invoice_id)
);

CREATE INDEX advance_allocations_by_invoice ON advance_allocations (invoice_id);

-- Consumption paid from credits, per account and UTC hour, beside the
-- billable hours: `covered_minor` sums the covered parts (cost - billable),
-- `records` counts the records covered whole (a record partly covered is
-- counted with the billable hours), so the two tables together count every
-- record with a cost once. Invoices bill both, in full.
CREATE TABLE consumption_covered_hours (
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    epoch_hour      BIGINT NOT NULL,
    records         BIGINT NOT NULL CHECK (records >= 0),
    covered_minor   BIGINT NOT NULL CHECK (covered_minor > 0),
    billed_records  BIGINT NOT NULL DEFAULT 0,
    billed_minor    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, epoch_hour)
) WITHOUT ROWID;

-- A record with a cost is now billed whole by one invoice (`invoice_id`).
-- A record covered whole before this version was settled by the credits
-- under the old rules: it counts as billed by the invoice of its month, as
-- migration 0010 marked billable ones; one of a month not invoiced yet is
-- billed by the next invoice, in full, and deducted (without an acompte).
UPDATE consumption_records SET invoice_id = (
    SELECT i.id FROM invoices i WHERE i.account_id = consumption_records.account_id
    AND i.period > strftime('%Y-%m', consumption_records.occurred_at) ORDER BY i.period LIMIT 1)
WHERE invoice_id IS NULL AND billable_minor = 0 AND cost_minor > 0;

-- The hour rounds down, before 1970 too (SQLite's / rounds toward zero).
INSERT INTO consumption_covered_hours (account_id, epoch_hour, records, covered_minor, billed_records, billed_minor)
SELECT account_id, hour,
    SUM(billable_minor = 0),
    SUM(cost_minor - billable_minor),
    SUM(billable_minor = 0 AND invoice_id IS NOT NULL),
    SUM(CASE WHEN invoice_id IS NOT NULL THEN cost_minor - billable_minor ELSE 0 END)
FROM (
    SELECT account_id, cost_minor, billable_minor, invoice_id,
           (unixepoch(occurred_at) - ((unixepoch(occurred_at) % 3600) + 3600) % 3600) / 3600 AS hour
    FROM consumption_records
    WHERE cost_minor > billable_minor
)
GROUP BY account_id, hour;

CREATE INDEX consumption_covered_hours_unbilled ON consumption_covered_hours (account_id, epoch_hour)
    WHERE billed_minor < covered_minor;
-- What a draft and a finalization read of the records: every unbilled one with a cost.
DROP INDEX consumption_unbilled;
CREATE INDEX consumption_unbilled ON consumption_records (account_id, occurred_at)
    WHERE invoice_id IS NULL AND cost_minor > 0;
