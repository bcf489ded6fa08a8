-- no-transaction
-- Credit notes (factures d'avoir, SPEC.md section 10) replace `void`, with
-- their own gapless series, refunds, and the customer balance that credit
-- beyond an invoice's amount due goes to.
--
-- `invoices` is rebuilt: its inline `UNIQUE (account_id, period)` becomes
-- "at most one invoice per account and period that is not fully credited"
-- (a partial unique index), its status may be `credited`, and a reissued
-- invoice names the one it replaces. SQLite cannot drop an inline
-- constraint, so this is SQLite's documented table rebuild, with foreign
-- keys off for its duration (the tables that reference `invoices` keep
-- their references by name) and in one transaction of its own: a crash
-- leaves the schema as before or as after.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE invoices_rebuilt (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    number          TEXT NOT NULL UNIQUE,
    period          TEXT NOT NULL,
    -- `credited`: credit notes cover the whole total. `void`: voided before
    -- credit notes existed (history).
    status          TEXT NOT NULL CHECK (status IN ('issued', 'paid', 'void', 'credited')),
    issue_date      TEXT NOT NULL,
    currency        TEXT NOT NULL,
    subtotal_minor  BIGINT NOT NULL,
    tax_minor       BIGINT NOT NULL,
    total_minor     BIGINT NOT NULL,
    snapshot        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    paid_at         TEXT,
    voided_at       TEXT,
    void_reason     TEXT,
    -- The fully credited invoice this one re-invoices (`POST .../reissue`).
    reissue_of      TEXT REFERENCES invoices (id)
);

INSERT INTO invoices_rebuilt (id, account_id, number, period, status, issue_date, currency,
    subtotal_minor, tax_minor, total_minor, snapshot, created_at, paid_at, voided_at, void_reason)
SELECT id, account_id, number, period, status, issue_date, currency,
    subtotal_minor, tax_minor, total_minor, snapshot, created_at, paid_at, voided_at, void_reason
FROM invoices;

DROP TABLE invoices;
ALTER TABLE invoices_rebuilt RENAME TO invoices;

CREATE INDEX invoices_by_account ON invoices (account_id, issue_date, id);
-- One invoice per account and period that is not fully credited: a second
-- run issues nothing twice; a reissue follows a full credit note.
CREATE UNIQUE INDEX invoices_open_period ON invoices (account_id, period) WHERE status <> 'credited';

-- One row per year of issue: the last credit note number, incremented in
-- the transaction that inserts the credit note (a rolled-back one uses no number).
CREATE TABLE credit_note_counters (
    year         INTEGER PRIMARY KEY,
    last_number  BIGINT NOT NULL
);

CREATE TABLE credit_notes (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    invoice_id      TEXT NOT NULL REFERENCES invoices (id),
    number          TEXT NOT NULL UNIQUE,
    issue_date      TEXT NOT NULL,
    reason          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    subtotal_minor  BIGINT NOT NULL CHECK (subtotal_minor >= 0),
    tax_minor       BIGINT NOT NULL CHECK (tax_minor >= 0),
    total_minor     BIGINT NOT NULL CHECK (total_minor > 0),
    -- How it settled when issued: what lowered the invoice's amount due,
    -- and what went to the customer balance.
    applied_minor     BIGINT NOT NULL CHECK (applied_minor >= 0),
    to_balance_minor  BIGINT NOT NULL CHECK (to_balance_minor >= 0),
    -- Lines, the invoice's number and issue date, buyer, seller and VAT as issued: never updated.
    snapshot        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    CHECK (applied_minor + to_balance_minor = total_minor)
);

CREATE INDEX credit_notes_by_invoice ON credit_notes (invoice_id, id);
CREATE INDEX credit_notes_by_account ON credit_notes (account_id, id);

-- Money paid back to the customer out of what a credit note put on the balance.
CREATE TABLE credit_note_refunds (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    credit_note_id  TEXT NOT NULL REFERENCES credit_notes (id),
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL,
    refunded_at     TEXT NOT NULL,
    reference       TEXT,
    created_at      TEXT NOT NULL
);

CREATE INDEX credit_note_refunds_by_credit_note ON credit_note_refunds (credit_note_id, id);

-- The customer balance gains kinds: `credit_note` (what a credit note put
-- on it), `refund` and `deduction` (what went out: paid back, or deducted
-- from a later invoice's amount due). An entry going out names the entry
-- it draws on (`source_entry_id`), so what is left of each credit is known.
CREATE TABLE customer_balance_entries_rebuilt (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    amount_minor     BIGINT NOT NULL CHECK (amount_minor <> 0),
    currency         TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('overpayment', 'voided_invoice', 'credit_note', 'refund', 'deduction')),
    invoice_id       TEXT,
    payment_id       TEXT REFERENCES invoice_payments (id),
    created_at       TEXT NOT NULL,
    credit_note_id   TEXT REFERENCES credit_notes (id),
    source_entry_id  TEXT REFERENCES customer_balance_entries (id)
);

INSERT INTO customer_balance_entries_rebuilt (id, account_id, amount_minor, currency, kind,
    invoice_id, payment_id, created_at)
SELECT id, account_id, amount_minor, currency, kind, invoice_id, payment_id, created_at
FROM customer_balance_entries;

DROP TABLE customer_balance_entries;
ALTER TABLE customer_balance_entries_rebuilt RENAME TO customer_balance_entries;

CREATE INDEX customer_balance_entries_by_account ON customer_balance_entries (account_id, id);
CREATE INDEX customer_balance_entries_by_source ON customer_balance_entries (source_entry_id);

-- A credit note is emailed like an invoice, through the same outbox: its
-- rows name the credited invoice and the credit note, whose PDF they carry.
ALTER TABLE invoice_emails ADD COLUMN credit_note_id TEXT REFERENCES credit_notes (id);

COMMIT;
PRAGMA foreign_keys = ON;
