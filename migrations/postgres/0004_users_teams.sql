-- Users and teams: enough to assign licenses and filter consumption.

CREATE TABLE teams (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    name        TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    name        TEXT NOT NULL,
    email       TEXT NOT NULL,
    team_id     TEXT REFERENCES teams (id),
    created_at  TIMESTAMPTZ NOT NULL,
    UNIQUE (account_id, email)
);

CREATE INDEX users_by_team ON users (account_id, team_id, id);
