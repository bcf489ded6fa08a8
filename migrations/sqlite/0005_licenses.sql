-- Licenses, their quotes, and additional phone numbers.

CREATE TABLE license_quotes (
    id                     TEXT PRIMARY KEY,
    account_id             TEXT NOT NULL REFERENCES accounts (id),
    plan_code              TEXT NOT NULL REFERENCES plans (code),
    quantity               INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 500),
    activation_date        TEXT NOT NULL,
    unit_price_minor       BIGINT NOT NULL,
    prorated_unit_minor    BIGINT NOT NULL,
    expires_at             TEXT NOT NULL,
    used_at                TEXT,
    created_at             TEXT NOT NULL
);

CREATE TABLE licenses (
    id                     TEXT PRIMARY KEY,
    account_id             TEXT NOT NULL REFERENCES accounts (id),
    plan_code              TEXT NOT NULL REFERENCES plans (code),
    activation_date        TEXT NOT NULL,
    removal_date           TEXT,
    user_id                TEXT REFERENCES users (id),
    prorated_amount_minor  BIGINT NOT NULL,
    created_at             TEXT NOT NULL
);

CREATE INDEX licenses_by_account ON licenses (account_id, id);
-- A user holds at most one license.
CREATE UNIQUE INDEX licenses_one_per_user ON licenses (user_id) WHERE user_id IS NOT NULL AND removal_date IS NULL;

CREATE TABLE phone_numbers (
    id                     TEXT PRIMARY KEY,
    account_id             TEXT NOT NULL REFERENCES accounts (id),
    country                TEXT NOT NULL,
    number                 TEXT NOT NULL UNIQUE,
    activation_date        TEXT NOT NULL,
    removal_date           TEXT,
    prorated_amount_minor  BIGINT NOT NULL,
    created_at             TEXT NOT NULL
);

CREATE INDEX phone_numbers_by_account ON phone_numbers (account_id, id);
