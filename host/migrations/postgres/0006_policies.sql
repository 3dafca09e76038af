-- The coop's value split, versioned and dated; every change is recorded
-- with who made it and why. Terms are JSON (ledger::split::SplitTerms).
CREATE TABLE split_policies (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    version BIGINT NOT NULL,
    effective_from BIGINT NOT NULL,
    terms TEXT NOT NULL,
    set_by BIGINT,
    reason TEXT NOT NULL,
    set_at BIGINT NOT NULL,
    PRIMARY KEY (coop_id, version)
);

-- The hourly earnings floor, dated the same way.
CREATE TABLE floor_rates (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    version BIGINT NOT NULL,
    effective_from BIGINT NOT NULL,
    per_hour BIGINT NOT NULL,
    currency TEXT NOT NULL,
    set_by BIGINT,
    reason TEXT NOT NULL,
    set_at BIGINT NOT NULL,
    PRIMARY KEY (coop_id, version)
);
