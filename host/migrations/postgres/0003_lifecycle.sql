-- Publisher keys a coop trusts, and whether it accepts only signed plugins.
CREATE TABLE trusted_keys (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    name TEXT NOT NULL,
    public_key TEXT NOT NULL,
    PRIMARY KEY (coop_id, name)
);
ALTER TABLE coops ADD COLUMN require_signatures BIGINT NOT NULL DEFAULT 0;
-- Which trusted key signed an installation, if any.
ALTER TABLE plugins ADD COLUMN signed_by TEXT;
