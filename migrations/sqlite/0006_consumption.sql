-- Consumption records (calls and SMS), ingested in batches by the telephony platform.
-- user_id and team_id carry no foreign key: a record keeps who made the call
-- even after that user or team is deleted.

CREATE TABLE consumption_records (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    external_id       TEXT NOT NULL,
    occurred_at       TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    team_id           TEXT,
    kind              TEXT NOT NULL CHECK (kind IN ('call', 'sms')),
    direction         TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    destination       TEXT NOT NULL,
    country           TEXT NOT NULL,
    duration_seconds  BIGINT NOT NULL CHECK (duration_seconds >= 0),
    cost_minor        BIGINT NOT NULL CHECK (cost_minor >= 0),
    billable_minor    BIGINT NOT NULL CHECK (billable_minor BETWEEN 0 AND cost_minor),
    created_at        TEXT NOT NULL
);

-- Re-sending a batch creates no duplicates.
CREATE UNIQUE INDEX consumption_external_id ON consumption_records (account_id, external_id);
-- Each filter (date range, user, team) walks an index in the list's order.
CREATE INDEX consumption_by_time ON consumption_records (account_id, occurred_at, id);
CREATE INDEX consumption_by_user ON consumption_records (account_id, user_id, occurred_at, id);
CREATE INDEX consumption_by_team ON consumption_records (account_id, team_id, occurred_at, id);
