-- Attempt counters for throttling (logins, applications, outbound fetches),
-- one row per (rule, key, fixed window); shared by every host on the
-- database, so a limit holds across replicas. A row is deleted once its
-- window no longer counts (expires_at).
CREATE TABLE throttle_counts (
    rule TEXT NOT NULL,
    key TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (rule, key, window_start)
);
CREATE INDEX throttle_counts_expiry ON throttle_counts (expires_at);
