-- Issue 16: the audit writer appends each coop's part of a batch in its
-- own transaction and records here, in the same transaction, the last part
-- number it committed for that coop; a retry after a commit whose answer
-- was lost finds its part written and appends nothing twice. `writer` is
-- random per writer start; old writers' rows are removed at start.
CREATE TABLE audit_writes (
    writer TEXT NOT NULL,
    coop_id BIGINT NOT NULL,
    last_part BIGINT NOT NULL,
    written_at BIGINT NOT NULL,
    PRIMARY KEY (writer, coop_id)
);
