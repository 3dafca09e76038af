-- Issue 7: the audit log is the hash chain "audit" (chain_entries); this
-- table says which members each entry is about, so a member can read the
-- entries about them even after the personal fields are erased.
CREATE TABLE audit_subjects (
    coop_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    member_id BIGINT NOT NULL,
    PRIMARY KEY (coop_id, seq, member_id)
);
CREATE INDEX audit_subjects_by_member ON audit_subjects (coop_id, member_id, seq);
