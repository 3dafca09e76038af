-- Issue 5: terms of service with notice, and read marks for the inbox.

-- Versions of a coop's terms. Never edited; a version takes effect at
-- `effective_at`, never before its notice period has run from
-- `published_at`.
CREATE TABLE terms_versions (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    version BIGINT NOT NULL,
    text TEXT NOT NULL,
    -- Line diff to the previous version (governance::terms::diff).
    diff TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    effective_at BIGINT NOT NULL,
    -- The proposal that adopted it, if one did.
    proposal_id BIGINT,
    PRIMARY KEY (coop_id, version)
);

CREATE TABLE terms_acceptances (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    member_id BIGINT NOT NULL,
    version BIGINT NOT NULL,
    accepted_at BIGINT NOT NULL,
    PRIMARY KEY (coop_id, member_id, version)
);

-- Which notifications (events addressed to a member) the member has read.
CREATE TABLE notification_reads (
    event_id BIGINT NOT NULL,
    member_id BIGINT NOT NULL,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (event_id, member_id)
);
