-- Credit notes (factures d'avoir, SPEC.md section 10) replace `void`, with
-- their own gapless series, refunds, and the customer balance that credit
-- beyond an invoice's amount due goes to.

-- "At most one invoice per account and period that is not fully credited";
-- an invoice may be `credited`; a reissued invoice names the one it replaces.
ALTER TABLE invoices DROP CONSTRAINT invoices_account_id_period_key;
ALTER TABLE invoices DROP CONSTRAINT invoices_status_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_status_check
    CHECK (status IN ('issued', 'paid', 'void', 'credited'));
ALTER TABLE invoices ADD COLUMN reissue_of TEXT REFERENCES invoices (id);
CREATE UNIQUE INDEX invoices_open_period ON invoices (account_id, period) WHERE status <> 'credited';

CREATE TABLE credit_note_counters (
    year         INTEGER PRIMARY KEY,
    last_number  BIGINT NOT NULL
);

CREATE TABLE credit_notes (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    invoice_id      TEXT NOT NULL REFERENCES invoices (id),
    number          TEXT NOT NULL UNIQUE,
    issue_date      DATE NOT NULL,
    reason          TEXT NOT NULL,
    currency        TEXT NOT NULL,
    subtotal_minor  BIGINT NOT NULL CHECK (subtotal_minor >= 0),
    tax_minor       BIGINT NOT NULL CHECK (tax_minor >= 0),
    total_minor     BIGINT NOT NULL CHECK (total_minor > 0),
    applied_minor     BIGINT NOT NULL CHECK (applied_minor >= 0),
    to_balance_minor  BIGINT NOT NULL CHECK (to_balance_minor >= 0),
    snapshot        TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    CHECK (applied_minor + to_balance_minor = total_minor)
);

CREATE INDEX credit_notes_by_invoice ON credit_notes (invoice_id, id);
CREATE INDEX credit_notes_by_account ON credit_notes (account_id, id);

CREATE TABLE credit_note_refunds (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    credit_note_id  TEXT NOT NULL REFERENCES credit_notes (id),
    amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
    currency        TEXT NOT NULL,
    refunded_at     TIMESTAMPTZ NOT NULL,
    reference       TEXT,
    created_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX credit_note_refunds_by_credit_note ON credit_note_refunds (credit_note_id, id);

ALTER TABLE customer_balance_entries DROP CONSTRAINT customer_balance_entries_kind_check;
ALTER TABLE customer_balance_entries ADD CONSTRAINT customer_balance_entries_kind_check
    CHECK (kind IN ('overpayment', 'voided_invoice', 'credit_note', 'refund', 'deduction'));
ALTER TABLE customer_balance_entries ADD COLUMN credit_note_id TEXT REFERENCES credit_notes (id);
ALTER TABLE customer_balance_entries ADD COLUMN source_entry_id TEXT REFERENCES customer_balance_entries (id);
CREATE INDEX customer_balance_entries_by_source ON customer_balance_entries (source_entry_id);

-- A credit note is emailed like an invoice, through the same outbox: its
-- rows name the credited invoice and the credit note, whose PDF they carry.
ALTER TABLE invoice_emails ADD COLUMN credit_note_id TEXT REFERENCES credit_notes (id);
