-- Host processes running now, kept in the audit log's database (on SQLite
-- the audit file): a row is written at start and deleted at a clean stop,
-- after the audit queue is written. A row left behind by a process that is
-- gone (killed, crashed, power lost) means its queued audit items were
-- lost: the next host to notice writes an `audit.gap` entry for the
-- interval in every coop's chain and deletes the row in one transaction
-- (see audit::runs). `quiet_at` is the last heartbeat at which the
-- process's audit queue was empty, so nothing older was lost.
CREATE TABLE host_runs (
    id TEXT PRIMARY KEY,
    hostname TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    quiet_at BIGINT NOT NULL
);
