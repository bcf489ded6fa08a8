-- One-off charges (SPEC.md section 10): staff add a porting fee or a setup,
-- billed once, on the account's next invoice, removable while unbilled.

CREATE TABLE charges (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts (id),
    description        TEXT NOT NULL,
    unit_amount_minor  BIGINT NOT NULL CHECK (unit_amount_minor > 0),
    quantity           BIGINT NOT NULL CHECK (quantity > 0),
    amount_minor       BIGINT NOT NULL CHECK (amount_minor = unit_amount_minor * quantity),
    currency           TEXT NOT NULL,
    -- The invoice that bills the charge; NULL until then.
    invoice_id         TEXT REFERENCES invoices (id),
    created_at         TEXT NOT NULL,
    -- The token subject of the staff member who added it.
    created_by         TEXT NOT NULL
);

-- The account's list, oldest first (ids sort by creation time).
CREATE INDEX charges_by_account ON charges (account_id, id);
-- What the next invoice bills: only the unbilled ones.
CREATE INDEX charges_unbilled ON charges (account_id, id) WHERE invoice_id IS NULL;
