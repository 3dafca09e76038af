-- Issue 7: ratings of workers, recorded by plugins through
-- coop:host/ratings, owned by the worker: they see every one, may contest
-- one, and ratings older than the coop's retention are not used.
CREATE TABLE ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    worker_id BIGINT NOT NULL,
    -- The member who rated (the plugin call's caller).
    rater_id BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    -- The plugin's job id, e.g. an order.
    job TEXT NOT NULL,
    score BIGINT NOT NULL,
    comment TEXT,
    created_at BIGINT NOT NULL,
    -- counted | contested | kept | removed
    status TEXT NOT NULL DEFAULT 'counted',
    contest_reason TEXT,
    contested_at BIGINT,
    resolved_by BIGINT,
    resolved_at BIGINT,
    resolution TEXT,
    UNIQUE (coop_id, plugin, job, worker_id)
);
CREATE INDEX ratings_by_worker ON ratings (coop_id, worker_id, created_at);
