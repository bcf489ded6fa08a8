-- Test clocks (issue 21). A test account lives at its clock's time for
-- everything: requests, billing runs, finalizations, events. Advancing a
-- clock is a job: `status` is 'advancing' while the worker holding the lease
-- runs, in order, what falls due up to `advance_to`; `frozen_time` moves
-- with each step, in the step's own transaction, so a job that dies resumes
-- where it was and runs nothing twice.
CREATE TABLE test_clocks (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    frozen_time       TIMESTAMPTZ NOT NULL,
    status            TEXT NOT NULL,
    advance_to        TIMESTAMPTZ,
    -- The test account whose admin made it (NULL: made by staff).
    owner_account_id  TEXT,
    -- Real time: who holds the job, and until when.
    lease_until       TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL
);

CREATE INDEX test_clocks_advancing ON test_clocks (status, lease_until);

-- The clock a test account lives on (NULL: a live account).
ALTER TABLE accounts ADD COLUMN test_clock_id TEXT REFERENCES test_clocks (id);

CREATE INDEX accounts_by_test_clock ON accounts (test_clock_id);

-- A clock's own number series (`TEST-F-2026-000001`, `TEST-AV-...`): test
-- documents never take a real number.
CREATE TABLE test_clock_counters (
    clock_id     TEXT NOT NULL REFERENCES test_clocks (id),
    series       TEXT NOT NULL,
    year         INTEGER NOT NULL,
    last_number  BIGINT NOT NULL,
    PRIMARY KEY (clock_id, series, year)
);
