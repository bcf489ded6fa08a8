-- Issued invoices and their gapless yearly numbering.

-- One row per year: the last number issued. Incremented in the transaction
-- that inserts the invoice, so a rolled-back invoice consumes no number.
CREATE TABLE invoice_counters (
    year         INTEGER PRIMARY KEY,
    last_number  BIGINT NOT NULL
);

CREATE TABLE invoices (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id),
    number          TEXT NOT NULL UNIQUE,
    period          TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('issued', 'paid', 'void')),
    issue_date      DATE NOT NULL,
    currency        TEXT NOT NULL,
    subtotal_minor  BIGINT NOT NULL,
    tax_minor       BIGINT NOT NULL,
    total_minor     BIGINT NOT NULL,
    -- Lines, billing address, tax treatment and payment method as issued: never updated.
    snapshot        TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    -- Status changes: issued -> paid (payment webhook or staff) or void (staff, with a reason).
    paid_at         TIMESTAMPTZ,
    voided_at       TIMESTAMPTZ,
    void_reason     TEXT,
    -- One invoice per account and period: a second run issues nothing twice.
    UNIQUE (account_id, period)
);

CREATE INDEX invoices_by_account ON invoices (account_id, issue_date, id);

-- The email addresses that receive each issued invoice (at most 10 per account).
CREATE TABLE invoice_recipients (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    email       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE UNIQUE INDEX invoice_recipients_email ON invoice_recipients (account_id, lower(email));
