-- E-invoices (SPEC.md section 10, issue 19): every issued invoice, acompte
-- invoice, reissued invoice and credit note is rendered once, in the
-- transaction that issues it, as a Factur-X PDF, a CII XML and a UBL XML.
-- The bytes live under COMPTOIR_DATA_DIR (einvoices/<account>/<sha256>.<ext>,
-- named by their content: written before this row commits, and a file no
-- row names is an orphan of a rolled-back issue, swept); this row is what
-- makes them the document's, with their SHA-256, for good.
CREATE TABLE e_invoices (
    document_id   TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    kind          TEXT NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    number        TEXT NOT NULL,
    pdf_sha256    TEXT NOT NULL CHECK (length(pdf_sha256) = 64),
    pdf_size      BIGINT NOT NULL CHECK (pdf_size > 0),
    cii_sha256    TEXT NOT NULL CHECK (length(cii_sha256) = 64),
    cii_size      BIGINT NOT NULL CHECK (cii_size > 0),
    ubl_sha256    TEXT NOT NULL CHECK (length(ubl_sha256) = 64),
    ubl_size      BIGINT NOT NULL CHECK (ubl_size > 0),
    created_at    TEXT NOT NULL
);
CREATE INDEX e_invoices_account ON e_invoices (account_id);

-- The language an account's documents are issued in (the stored PDF and
-- the emails carrying it).
ALTER TABLE accounts ADD COLUMN invoice_language TEXT NOT NULL DEFAULT 'fr' CHECK (invoice_language IN ('fr', 'en'));
