-- Foundation: accounts, the plan catalog with dated prices, the audit log and
-- idempotency keys. Money is BIGINT minor units; instants are bound from Rust.

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    currency    TEXT NOT NULL CHECK (currency IN ('EUR', 'USD', 'GBP', 'CHF')),
    timezone    TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE plans (
    code      TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('license', 'phone_number')),
    currency  TEXT NOT NULL CHECK (currency IN ('EUR', 'USD', 'GBP', 'CHF')),
    position  INTEGER NOT NULL
);

-- A price applies from its day on, until the next one.
CREATE TABLE plan_prices (
    plan_code            TEXT NOT NULL REFERENCES plans (code),
    effective_from       DATE NOT NULL,
    monthly_price_minor  BIGINT NOT NULL CHECK (monthly_price_minor >= 0),
    created_at           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (plan_code, effective_from)
);

INSERT INTO plans (code, name, kind, currency, position) VALUES
    ('SMART', 'Smart', 'license', 'EUR', 1),
    ('BUSINESS', 'Business', 'license', 'EUR', 2),
    ('ADVANCED', 'Advanced', 'license', 'EUR', 3),
    ('PHONE_NUMBER', 'Additional phone number', 'phone_number', 'EUR', 4);

INSERT INTO plan_prices (plan_code, effective_from, monthly_price_minor, created_at) VALUES
    ('SMART', '2000-01-01', 2400, '2000-01-01T00:00:00Z'),
    ('BUSINESS', '2000-01-01', 4400, '2000-01-01T00:00:00Z'),
    ('ADVANCED', '2000-01-01', 6400, '2000-01-01T00:00:00Z'),
    ('PHONE_NUMBER', '2000-01-01', 500, '2000-01-01T00:00:00Z');

CREATE TABLE audit_events (
    id             TEXT PRIMARY KEY,
    account_id     TEXT,
    actor_subject  TEXT NOT NULL,
    actor_role     TEXT NOT NULL CHECK (actor_role IN ('admin', 'viewer', 'support', 'integration')),
    action         TEXT NOT NULL,
    target_type    TEXT NOT NULL,
    target_id      TEXT NOT NULL,
    before_state   TEXT,
    after_state    TEXT,
    request_id     TEXT,
    occurred_at    TIMESTAMPTZ NOT NULL
);

CREATE INDEX audit_events_by_account ON audit_events (account_id, id);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    idem_key     TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       INTEGER NOT NULL,
    body         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
