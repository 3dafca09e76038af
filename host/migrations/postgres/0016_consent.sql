-- Issue 7: consent per member, plugin and data category (each category a
-- plugin declares has one purpose). Append-only: the latest row of a
-- (member, plugin, category) is in force, the rest is its history.
CREATE TABLE consents (
    id BIGSERIAL PRIMARY KEY,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    member_id BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    category TEXT NOT NULL,
    -- The purpose as declared when the member decided.
    purpose TEXT NOT NULL,
    -- 1: given, 0: withdrawn.
    given BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX consents_by_member ON consents (coop_id, member_id, plugin, category, id);
