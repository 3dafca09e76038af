-- Components staged by a coop (POST /v1/coops/{coop}/components) for a
-- plugin proposal to name by SHA-256. The bytes live once in `components`
-- (shared by content); this row is the coop's claim on them, counted
-- against its staging quota and removed after a retention period unless
-- an open or passed proposal of the coop still names it (see
-- plugins::staging). An installed component stays through `plugins`.
CREATE TABLE staged_components (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    sha256 TEXT NOT NULL,
    size BIGINT NOT NULL,
    staged_by BIGINT,
    staged_at BIGINT NOT NULL,
    PRIMARY KEY (coop_id, sha256)
);
CREATE INDEX staged_components_age ON staged_components (staged_at);
