-- The invoice email outbox: one row per recipient, written in the transaction
-- that issues the invoice, then delivered over SMTP by the outbox worker.

CREATE TABLE invoice_emails (
    id               TEXT PRIMARY KEY,
    invoice_id       TEXT NOT NULL REFERENCES invoices (id),
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    -- Language of the body and of the attached PDF (rendered when sent, from
    -- the invoice's immutable snapshot).
    lang             TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    -- Not tried before this instant (NULL: at once). Claiming a row pushes it
    -- past the send timeout, so a worker that dies mid-send is retried later.
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    sent_at          TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX invoice_emails_due ON invoice_emails (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX invoice_emails_by_invoice ON invoice_emails (invoice_id, id);
