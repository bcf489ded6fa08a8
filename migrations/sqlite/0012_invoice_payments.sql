-- Payments with amounts on invoices, failed debits, and the customer balance
-- that an overpayment goes to.

-- A payment received for an invoice: recorded by staff (`POST .../payments`,
-- `mark-paid`) or by the signed payment webhook. `applied` payments count in
-- the invoice's `amount_paid`; an event about an invoice that is unknown
-- (`account_id` NULL) or already settled is kept with `applied` false, so the
-- money received is on record, and changes nothing else. `invoice_id` is the
-- invoice the payment names, which may not exist: no foreign key.
CREATE TABLE invoice_payments (
    id                 TEXT PRIMARY KEY,
    invoice_id         TEXT NOT NULL,
    account_id         TEXT REFERENCES accounts (id),
    applied            BOOLEAN NOT NULL,
    -- NULL only for an event that was not applied and named no amount or currency.
    amount_minor       BIGINT CHECK (amount_minor IS NULL OR amount_minor > 0),
    currency           TEXT,
    paid_at            TEXT NOT NULL,
    method             TEXT NOT NULL CHECK (method IN ('card', 'sepa_debit', 'transfer', 'cheque', 'other')),
    reference          TEXT,
    -- The part of an applied payment beyond the amount due, added to the customer balance.
    overpayment_minor  BIGINT NOT NULL CHECK (overpayment_minor >= 0),
    -- The payment webhook's event id, for a payment it recorded.
    event_id           TEXT,
    created_at         TEXT NOT NULL,
    CHECK (NOT applied OR (account_id IS NOT NULL AND amount_minor IS NOT NULL AND currency IS NOT NULL))
);

CREATE INDEX invoice_payments_by_invoice ON invoice_payments (account_id, invoice_id, id);

-- A failed debit (`invoice.payment_failed` webhook event), with the
-- provider's reason; `account_id` is NULL when the invoice is unknown.
CREATE TABLE invoice_payment_failures (
    id          TEXT PRIMARY KEY,
    invoice_id  TEXT NOT NULL,
    account_id  TEXT REFERENCES accounts (id),
    reason      TEXT,
    failed_at   TEXT NOT NULL,
    event_id    TEXT,
    created_at  TEXT NOT NULL
);

CREATE INDEX invoice_payment_failures_by_invoice ON invoice_payment_failures (account_id, invoice_id, id);

-- What the account's customer balance is made of: signed amounts (positive:
-- owed to the customer), summed on read: overpayments, and what was paid on
-- an invoice staff voided. Credit notes and refunds will add kinds.
CREATE TABLE customer_balance_entries (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    amount_minor  BIGINT NOT NULL CHECK (amount_minor <> 0),
    currency      TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('overpayment', 'voided_invoice')),
    invoice_id    TEXT,
    payment_id    TEXT REFERENCES invoice_payments (id),
    created_at    TEXT NOT NULL
);

CREATE INDEX customer_balance_entries_by_account ON customer_balance_entries (account_id, id);

-- Invoices paid before amounts were recorded were paid in full: one payment
-- of their total each, dated when they were marked paid, so that their
-- `amount_paid` is their total and `amount_due` zero.
INSERT INTO invoice_payments (id, invoice_id, account_id, applied, amount_minor, currency,
    paid_at, method, reference, overpayment_minor, event_id, created_at)
SELECT 'pay_' || substr(id, 5), id, account_id, TRUE, total_minor, currency,
    COALESCE(paid_at, created_at), 'other', 'paid before payment amounts were recorded', 0,
    NULL, COALESCE(paid_at, created_at)
FROM invoices
WHERE status = 'paid' AND total_minor > 0;
