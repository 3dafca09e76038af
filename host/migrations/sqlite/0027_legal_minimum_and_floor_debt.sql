-- The legal minimum hourly references the host operator sets (for France,
-- the SMIC), per country and currency, each from a date until the next.
-- No coop's earnings floor may be set below the one in force, and the
-- floor run never pays on-shift time below it (ledger::legal_minimum).
CREATE TABLE legal_minimums (
    country TEXT NOT NULL,
    currency TEXT NOT NULL,
    effective_from BIGINT NOT NULL,
    per_hour BIGINT NOT NULL,
    label TEXT NOT NULL,
    set_at BIGINT NOT NULL,
    PRIMARY KEY (country, currency, effective_from)
);
-- The country whose legal minimum applies to a coop (ISO 3166 alpha-2);
-- NULL: the host's default country (host_settings 'default_country').
ALTER TABLE coops ADD COLUMN country TEXT;
-- What the solidarity fund could not top up, booked as the coop's debt to
-- the worker (account floor-debt:<member>) and paid back first.
ALTER TABLE floor_results ADD COLUMN booked_as_debt BIGINT NOT NULL DEFAULT 0;
