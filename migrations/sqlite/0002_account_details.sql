-- Account details: useful contacts, billing addresses with their history and
-- change requests, documents.

CREATE TABLE contacts (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    phone       TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('technical', 'accounting', 'operational', 'other')),
    note        TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE INDEX contacts_by_account ON contacts (account_id, role, id);

CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    name          TEXT NOT NULL,
    doc_type      TEXT NOT NULL CHECK (doc_type IN ('company_registration', 'identity', 'contract', 'iban_certificate', 'portability_mandate', 'other')),
    content_type  TEXT NOT NULL CHECK (content_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    size          BIGINT NOT NULL CHECK (size >= 0),
    sha256        TEXT NOT NULL,
    uploaded_by   TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE INDEX documents_by_account ON documents (account_id, doc_type, id);

CREATE TABLE billing_addresses (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    company_name      TEXT NOT NULL,
    line1             TEXT NOT NULL,
    line2             TEXT,
    postal_code       TEXT NOT NULL,
    city              TEXT NOT NULL,
    region            TEXT,
    country           TEXT NOT NULL,
    vat_number        TEXT,
    status            TEXT NOT NULL CHECK (status IN ('pending_verification', 'verified', 'rejected')),
    is_primary        BOOLEAN NOT NULL,
    rejection_reason  TEXT,
    revision          INTEGER NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

CREATE INDEX billing_addresses_by_account ON billing_addresses (account_id, id);
CREATE INDEX billing_addresses_by_country ON billing_addresses (account_id, country, status);
-- At most one primary address per account.
CREATE UNIQUE INDEX billing_addresses_one_primary ON billing_addresses (account_id) WHERE is_primary;

CREATE TABLE billing_address_change_requests (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    address_id    TEXT NOT NULL REFERENCES billing_addresses (id),
    company_name  TEXT NOT NULL,
    line1         TEXT NOT NULL,
    line2         TEXT,
    postal_code   TEXT NOT NULL,
    city          TEXT NOT NULL,
    region        TEXT,
    country       TEXT NOT NULL,
    vat_number    TEXT,
    document_id   TEXT REFERENCES documents (id),
    status        TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason        TEXT,
    requested_by  TEXT NOT NULL,
    decided_by    TEXT,
    created_at    TEXT NOT NULL,
    decided_at    TEXT
);

CREATE INDEX change_requests_by_account ON billing_address_change_requests (account_id, id);
CREATE INDEX change_requests_by_document ON billing_address_change_requests (document_id, status);
-- At most one pending request per address.
CREATE UNIQUE INDEX change_requests_one_pending ON billing_address_change_requests (address_id) WHERE status = 'pending';

-- Every version of an address's fields, kept forever.
CREATE TABLE billing_address_revisions (
    address_id         TEXT NOT NULL REFERENCES billing_addresses (id),
    revision           INTEGER NOT NULL,
    company_name       TEXT NOT NULL,
    line1              TEXT NOT NULL,
    line2              TEXT,
    postal_code        TEXT NOT NULL,
    city               TEXT NOT NULL,
    region             TEXT,
    country            TEXT NOT NULL,
    vat_number         TEXT,
    changed_by         TEXT NOT NULL,
    change_request_id  TEXT,
    created_at         TEXT NOT NULL,
    PRIMARY KEY (address_id, revision)
);
