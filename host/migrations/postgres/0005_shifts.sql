-- Work shifts, owned by the host: the earnings floor counts them.
CREATE TABLE shifts (
    id BIGSERIAL PRIMARY KEY,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    member_id BIGINT NOT NULL REFERENCES members(id),
    started_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX shifts_member ON shifts (coop_id, member_id, started_at);
-- At most one open shift per member.
CREATE UNIQUE INDEX shifts_one_open ON shifts (member_id) WHERE ended_at IS NULL;

-- How a worker is employed; the worker chooses (the coop cannot block a
-- CAE choice). Values: independent, salaried, cae.
ALTER TABLE members ADD COLUMN worker_status TEXT NOT NULL DEFAULT 'independent';
ALTER TABLE members ADD COLUMN cae_name TEXT;
