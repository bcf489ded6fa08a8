-- Outgoing webhooks (issue 20). Every change worth reacting to writes an
-- event in its own transaction; the same transaction queues one delivery per
-- enabled endpoint of the account that subscribes to the event's type. The
-- delivery worker drains webhook_deliveries like the other outboxes (a claim
-- with a lease), signs each request (Standard Webhooks) and logs every
-- attempt in webhook_attempts.

-- An event: `body` is the JSON delivered, fixed when the event is written
-- (`{id, type, created_at, account_id, data: {object}}`, the object as the
-- API returned it then). `once_key` makes an event that must happen once
-- (a card's `payment_method.expiring`) unique. Kept 30 days.
CREATE TABLE events (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    type        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    body        TEXT NOT NULL,
    once_key    TEXT UNIQUE
);

CREATE INDEX events_by_account ON events (account_id, id);
CREATE INDEX events_by_account_type ON events (account_id, type, id);
CREATE INDEX events_by_age ON events (created_at);

-- Where an account's events are sent. `events` is a JSON array of event
-- types, or ["*"]. The signing secret (`whsec_...`) is kept to sign; after a
-- rotation the previous one signs beside it until `previous_secret_expires_at`.
CREATE TABLE webhook_endpoints (
    id                          TEXT PRIMARY KEY,
    account_id                  TEXT NOT NULL REFERENCES accounts (id),
    url                         TEXT NOT NULL,
    events                      TEXT NOT NULL,
    description                 TEXT,
    enabled                     BOOLEAN NOT NULL,
    -- Why Comptoir disabled it (deliveries failing for 3 days), if it did.
    disabled_reason             TEXT,
    secret                      TEXT NOT NULL,
    previous_secret             TEXT,
    previous_secret_expires_at  TIMESTAMPTZ,
    created_at                  TIMESTAMPTZ NOT NULL,
    updated_at                  TIMESTAMPTZ NOT NULL
);

CREATE INDEX webhook_endpoints_by_account ON webhook_endpoints (account_id, id);

-- The outbox: one row per event and endpoint, claimed with a lease.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts (id),
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id),
    event_id         TEXT NOT NULL REFERENCES events (id),
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ,
    last_error       TEXT,
    sent_at          TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending';
-- The claim takes the oldest due deliveries first (in the order queued):
-- pending ones in id order, without walking past every delivery sent.
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, id);
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);

-- Every attempt at a delivery: the delivery log of an endpoint.
CREATE TABLE webhook_attempts (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id),
    endpoint_id   TEXT NOT NULL REFERENCES webhook_endpoints (id),
    delivery_id   TEXT NOT NULL REFERENCES webhook_deliveries (id),
    event_id      TEXT NOT NULL REFERENCES events (id),
    attempt       INTEGER NOT NULL,
    attempted_at  TIMESTAMPTZ NOT NULL,
    -- The HTTP status answered, none when no answer came.
    status_code   INTEGER,
    latency_ms    BIGINT NOT NULL,
    error         TEXT,
    -- The first 1 KiB of the answer's body.
    response      TEXT
);

CREATE INDEX webhook_attempts_by_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id);
