-- The durable scheduler: jobs survive restarts, run once even with several
-- hosts on one database (leases), and are retried with back-off.
CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    coop_id BIGINT REFERENCES coops(id),
    kind TEXT NOT NULL,
    unique_key TEXT UNIQUE,
    payload TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX jobs_due ON jobs (status, run_at);
CREATE INDEX jobs_coop ON jobs (coop_id, id);
