-- Second factor (TOTP) and login throttling.
--
-- Failed logins are now counted in throttle_counts (0019), atomically and
-- per account, per account and address, and per address; the old table,
-- read-then-insert and never emptied, goes.
DROP TABLE login_failures;

-- Whether a session was opened with a second factor: a coop may require
-- it of its admins, and the host of its operator.
ALTER TABLE sessions ADD COLUMN second_factor BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- One TOTP secret per account, sealed under the host secret (never shown
-- again after enrolment). Pending until confirmed with a code. last_step
-- is the last time step whose code was accepted: each code works once.
CREATE TABLE second_factors (
    user_id BIGINT PRIMARY KEY REFERENCES users(id),
    sealed_secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT 0
);

-- Single-use recovery codes, stored as SHA-256 hashes (they are random,
-- 80 bits each).
CREATE TABLE recovery_codes (
    user_id BIGINT NOT NULL REFERENCES users(id),
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- A right password for an account with a second factor gives a short-lived
-- challenge (stored hashed), exchanged with a code for a session.
CREATE TABLE login_challenges (
    challenge_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX login_challenges_expiry ON login_challenges (expires_at);
