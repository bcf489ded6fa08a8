-- Payment methods (card, SEPA debit), prepaid credits with their ledger,
-- top-ups and the payment webhook's processed events.

CREATE TABLE payment_methods (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts (id),
    kind               TEXT NOT NULL CHECK (kind IN ('card', 'sepa_debit')),
    is_default         BOOLEAN NOT NULL,
    brand              TEXT,
    last4              TEXT NOT NULL,
    exp_month          INTEGER,
    exp_year           INTEGER,
    holder_name        TEXT NOT NULL,
    fingerprint        TEXT,
    iban_ciphertext    TEXT,
    iban_prefix        TEXT,
    bic                TEXT,
    mandate_reference  TEXT,
    mandate_signed_on  TEXT,
    created_at         TEXT NOT NULL,
    deleted_at         TEXT
);

CREATE INDEX payment_methods_by_account ON payment_methods (account_id, id);
CREATE UNIQUE INDEX payment_methods_one_default ON payment_methods (account_id) WHERE is_default AND deleted_at IS NULL;

-- One row per account: the balance (always the sum of its ledger) and the
-- auto-recharge settings.
CREATE TABLE credit_accounts (
    account_id             TEXT PRIMARY KEY REFERENCES accounts (id),
    balance_minor          BIGINT NOT NULL CHECK (balance_minor >= 0),
    auto_recharge_enabled  BOOLEAN NOT NULL,
    threshold_minor        BIGINT NOT NULL CHECK (threshold_minor >= 0),
    recharge_amount_minor  BIGINT NOT NULL CHECK (recharge_amount_minor >= 0)
);

CREATE TABLE top_ups (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts (id),
    amount_minor       BIGINT NOT NULL CHECK (amount_minor > 0),
    status             TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    origin             TEXT NOT NULL CHECK (origin IN ('manual', 'auto_recharge')),
    payment_method_id  TEXT NOT NULL REFERENCES payment_methods (id),
    failure_reason     TEXT,
    created_at         TEXT NOT NULL,
    settled_at         TEXT
);

CREATE INDEX top_ups_by_account ON top_ups (account_id, id);
-- At most one pending auto-recharge per account.
CREATE UNIQUE INDEX top_ups_one_pending_auto ON top_ups (account_id) WHERE status = 'pending' AND origin = 'auto_recharge';

CREATE TABLE credit_ledger (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts (id),
    kind                 TEXT NOT NULL CHECK (kind IN ('top_up', 'consumption', 'adjustment')),
    amount_minor         BIGINT NOT NULL,
    balance_after_minor  BIGINT NOT NULL CHECK (balance_after_minor >= 0),
    reference            TEXT,
    created_at           TEXT NOT NULL
);

CREATE INDEX credit_ledger_by_account ON credit_ledger (account_id, id);

CREATE TABLE webhook_events (
    event_id     TEXT PRIMARY KEY,
    received_at  TEXT NOT NULL
);
