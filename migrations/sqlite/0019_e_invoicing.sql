-- E-invoicing through the seller's approved platform (PA, issue 19): each
-- issued invoice, acompte invoice and credit note gets a row here in the
-- transaction that issues it, and a message in the outbox below, which the
-- delivery worker POSTs to COMPTOIR_PA_URL (while it is unset, messages wait).

-- One row per issued document: where it stands with the platform (the
-- summary on the invoice's JSON). `status_code` is the lifecycle code of the
-- French norm (200 deposited ... 213 rejected), null for Comptoir's own
-- stages (pending, transmitted, failed).
CREATE TABLE e_invoice_documents (
    document_id  TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id),
    number       TEXT NOT NULL,
    type_code    TEXT NOT NULL CHECK (type_code IN ('380', '381', '386')),
    -- The platform's id of the document, once deposited.
    platform_id  TEXT UNIQUE,
    status       TEXT NOT NULL CHECK (status IN (
        'pending', 'transmitted', 'failed', 'deposited', 'issued_by_platform',
        'received', 'made_available', 'in_hand', 'approved', 'partially_approved',
        'disputed', 'suspended', 'completed', 'refused', 'payment_transmitted',
        'collected', 'rejected', 'targeted', 'cancelled', 'routing_error',
        'direct_payment_requested', 'factored', 'factored_confidential',
        'payment_account_changed', 'not_factored')),
    status_code  TEXT,
    status_at    TEXT NOT NULL,
    reason       TEXT,
    created_at   TEXT NOT NULL
);

-- Rejected (213) or refused (210): staff look at these (they need a credit note).
CREATE INDEX e_invoice_documents_flagged ON e_invoice_documents (document_id)
    WHERE status_code IN ('210', '213');
CREATE INDEX e_invoice_documents_by_account ON e_invoice_documents (account_id, document_id);

-- The outbox: the document itself (kind `document`: its stored Factur-X and
-- metadata) and the statuses Comptoir reports (kind `status`: 212 collected),
-- claimed with a lease by the delivery worker like invoice_emails.
CREATE TABLE e_invoice_messages (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    document_id      TEXT NOT NULL REFERENCES e_invoice_documents (document_id),
    kind             TEXT NOT NULL CHECK (kind IN ('document', 'status')),
    -- The JSON sent (metadata, or the status), fixed when queued.
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    last_error       TEXT,
    sent_at          TEXT,
    created_at       TEXT NOT NULL
);

CREATE INDEX e_invoice_messages_due ON e_invoice_messages (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX e_invoice_messages_by_document ON e_invoice_messages (document_id, id);
-- An account's documents are deposited in order: a claim looks for an
-- earlier one still pending.
CREATE INDEX e_invoice_messages_pending_documents ON e_invoice_messages (account_id, id)
    WHERE status = 'pending' AND kind = 'document';

-- What happened to a document with the platform, oldest first: queued,
-- transmitted, rejected at deposit, statuses received by the webhook (once
-- per platform event id), statuses Comptoir queued and sent (212 with the
-- amount and the day collected).
CREATE TABLE e_invoice_events (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts (id),
    document_id        TEXT NOT NULL REFERENCES e_invoice_documents (document_id),
    kind               TEXT NOT NULL CHECK (kind IN (
        'queued', 'transmitted', 'rejected', 'transmission_failed', 'status_received',
        'status_queued', 'status_sent', 'status_failed')),
    code               TEXT,
    occurred_at        TEXT NOT NULL,
    reason             TEXT,
    amount_minor       BIGINT,
    currency           TEXT,
    collected_on       TEXT,
    platform_event_id  TEXT UNIQUE,
    created_at         TEXT NOT NULL
);

CREATE INDEX e_invoice_events_by_document ON e_invoice_events (document_id, id);
