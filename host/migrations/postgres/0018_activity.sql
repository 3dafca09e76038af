-- Issue 7: activity counted by plugins (coop:host/activity) for the
-- coop's open data, aggregated per month, zone and metric with small
-- cells suppressed.
CREATE TABLE activity_counts (
    id BIGSERIAL PRIMARY KEY,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    plugin TEXT NOT NULL,
    metric TEXT NOT NULL,
    zone TEXT NOT NULL,
    amount BIGINT NOT NULL,
    worker_id BIGINT,
    at BIGINT NOT NULL
);
CREATE INDEX activity_counts_by_coop ON activity_counts (coop_id, at);
