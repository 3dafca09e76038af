-- Issue 7: deactivation only by a human decision with a reason, flags from
-- automated systems (plugins, service accounts) that change nothing, and
-- appeals reviewed by another person within a deadline.

-- A concern raised about a member by an automated system (a plugin through
-- coop:host/moderation, or a service account) or by an admin. It changes
-- nothing: an admin dismisses it or acts on it (a deactivation).
CREATE TABLE member_flags (
    -- Random, below 2^53: a plugin learns it before its call commits.
    id BIGINT PRIMARY KEY,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    member_id BIGINT NOT NULL,
    -- plugin, service or member
    source TEXT NOT NULL,
    -- The plugin's name, the service key's id, or the flagging admin.
    plugin TEXT,
    service_key BIGINT,
    flagged_by BIGINT,
    reason TEXT NOT NULL,
    -- open, dismissed or acted
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    resolved_by BIGINT,
    resolved_at BIGINT,
    -- Why it was dismissed (acted flags point at their decision instead).
    resolution TEXT,
    decision_id BIGINT
);
CREATE INDEX member_flags_open ON member_flags (coop_id, status, created_at);
CREATE INDEX member_flags_member ON member_flags (coop_id, member_id, created_at);

-- A suspension or removal: the status change (member_status_history.id is
-- the decision's id) with what it replaced and until when it may be
-- appealed (fixed when decided: a later rules change does not shorten it).
CREATE TABLE deactivations (
    decision_id BIGINT PRIMARY KEY,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    member_id BIGINT NOT NULL,
    -- suspended or removed
    status TEXT NOT NULL,
    previous_status TEXT NOT NULL,
    reason TEXT NOT NULL,
    decided_by BIGINT NOT NULL,
    decided_at BIGINT NOT NULL,
    appeal_until BIGINT NOT NULL,
    flag_id BIGINT
);
CREATE INDEX deactivations_member ON deactivations (coop_id, member_id, decided_at);

-- The worker's appeal of a decision: one per decision, reviewed by an
-- admin other than the one who decided, before review_due_at.
CREATE TABLE appeals (
    id BIGSERIAL PRIMARY KEY,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    decision_id BIGINT NOT NULL,
    member_id BIGINT NOT NULL,
    statement TEXT NOT NULL,
    -- open, overdue, upheld or overturned
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    review_due_at BIGINT NOT NULL,
    overdue_at BIGINT,
    reviewed_by BIGINT,
    reviewed_at BIGINT,
    review_reason TEXT,
    -- The status the member got back when the decision was overturned.
    restored_status TEXT,
    UNIQUE (coop_id, decision_id)
);
CREATE INDEX appeals_coop ON appeals (coop_id, status, id);
