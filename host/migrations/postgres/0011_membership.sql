-- Issue 5: joining (invitations and applications), member status history
-- with dates and reasons, and cooperative shares.

CREATE TABLE membership_requests (
    id BIGSERIAL PRIMARY KEY,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    -- invitation or application
    kind TEXT NOT NULL,
    email TEXT NOT NULL,
    display_name TEXT NOT NULL,
    roles TEXT NOT NULL,
    college TEXT,
    message TEXT NOT NULL,
    -- SHA-256 of the invitation token (invitations only).
    token_hash TEXT,
    -- pending, accepted, rejected, withdrawn
    status TEXT NOT NULL,
    created_by BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    decided_by BIGINT,
    decided_at BIGINT,
    member_id BIGINT
);
CREATE INDEX membership_requests_coop ON membership_requests (coop_id, status, id);

-- Every change of a member's status, dated, with who and why.
CREATE TABLE member_status_history (
    id BIGSERIAL PRIMARY KEY,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    member_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    changed_by BIGINT,
    at BIGINT NOT NULL
);
CREATE INDEX member_status_history_member ON member_status_history (coop_id, member_id, id);

-- Shares held per member; the money sits in the ledger's `shares` account.
CREATE TABLE member_shares (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    member_id BIGINT NOT NULL,
    shares BIGINT NOT NULL,
    nominal BIGINT NOT NULL,
    currency TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (coop_id, member_id)
);
