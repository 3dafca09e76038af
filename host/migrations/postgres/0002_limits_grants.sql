-- Store usage per plugin namespace, kept by every commit, for quotas.
CREATE TABLE kv_usage (
    coop_id BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    keys BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    PRIMARY KEY (coop_id, plugin)
);

-- Capabilities granted at install (comma-separated coop:host interface
-- names) and per-plugin limit overrides (a JSON object).
ALTER TABLE plugins ADD COLUMN grants TEXT NOT NULL DEFAULT '';
ALTER TABLE plugins ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
