-- Issue 5: governance. Hash-chained logs (decisions now, the audit log
-- later), colleges and the coop's governance rules, proposals and votes.

-- Append-only, hash-chained entries, one chain per (chain name, coop).
-- `hash` = SHA-256 over the entry's canonical bytes, which include
-- `prev_hash` (see host/src/chain). Nothing here is updated or deleted.
CREATE TABLE chain_entries (
    chain TEXT NOT NULL,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    seq BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    kind TEXT NOT NULL,
    -- Canonical JSON of the public part of the entry.
    body TEXT NOT NULL,
    -- Hex SHA-256 of salt and the personal part (empty without one): the
    -- chain covers the commitment, not the data.
    commitment TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (chain, coop_id, seq)
);

-- Personal fields kept beside the chain; erasing a row here never breaks
-- verification.
CREATE TABLE chain_personal (
    chain TEXT NOT NULL,
    coop_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    salt TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (chain, coop_id, seq)
);

-- The coop's governance rules (JSON, governance::rules::Rules: methods,
-- quorums, colleges and their weights, direct powers), versioned.
CREATE TABLE governance_rules (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    version BIGINT NOT NULL,
    rules TEXT NOT NULL,
    set_at BIGINT NOT NULL,
    PRIMARY KEY (coop_id, version)
);

CREATE TABLE proposals (
    id BIGSERIAL PRIMARY KEY,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    -- JSON: what the proposal changes (governance::proposals::Change).
    change TEXT NOT NULL,
    -- JSON: the voting rules fixed when it opened (method, quorum, threshold).
    rules TEXT NOT NULL,
    proposer BIGINT NOT NULL,
    opens_at BIGINT NOT NULL,
    closes_at BIGINT NOT NULL,
    effective_at BIGINT NOT NULL,
    -- open, passed, rejected, applied, failed
    status TEXT NOT NULL,
    -- JSON tally once closed.
    tally TEXT,
    outcome TEXT,
    created_at BIGINT NOT NULL,
    closed_at BIGINT,
    applied_at BIGINT
);
CREATE INDEX proposals_coop ON proposals (coop_id, id);

-- The current vote of each member on a proposal (changed until it closes).
CREATE TABLE votes (
    proposal_id BIGINT NOT NULL REFERENCES proposals(id),
    member_id BIGINT NOT NULL,
    college TEXT,
    -- yes, no, abstain, object
    choice TEXT NOT NULL,
    reason TEXT NOT NULL,
    cast_at BIGINT NOT NULL,
    changes BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (proposal_id, member_id)
);
