-- Issue 16 (accounts and mail): an account is bound to a person only once
-- its email address is proven; one-time links mailed to that address; and
-- the outbox every mail goes through.

-- When the address was proven: a mailed link followed, an invitation (its
-- token mailed there) accepted, or vouched for by the host's own tools (the
-- operator's CLI, the demo). NULL: bound to nobody yet: the account cannot
-- log in, is not reused when someone adds or invites that address, and is
-- deleted once it expires.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
-- Accounts that already act somewhere keep working: members and operators.
-- An account whose only trace is an application was never proven: it
-- expires like a new one, and its owner applies again.
UPDATE users SET email_verified_at = created_at
 WHERE is_operator = 1 OR id IN (SELECT user_id FROM members);

-- One-time links mailed to an account's address, stored as SHA-256 hashes.
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    -- verify (an application's address), reset (a forgotten password) or
    -- welcome (a first password, after an admin added the address)
    purpose TEXT NOT NULL,
    -- verify: argon2id hash of the password given with the application;
    -- the account takes it once the address is proven.
    password_hash TEXT,
    -- verify: the application the link confirms
    request_id BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
CREATE INDEX email_tokens_expiry ON email_tokens (expires_at);

-- Every mail, queued in the transaction of what causes it and sent in the
-- background with retries. `message` holds what the body is rendered
-- from (one-time links included) and is emptied once the mail is sent.
CREATE TABLE mail_outbox (
    id BIGSERIAL PRIMARY KEY,
    coop_id BIGINT,
    to_addr TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    -- pending, sent, failed (permanent refusal or out of attempts) or
    -- expired (never sent in time)
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    -- The sender that claimed it, until when (several hosts send).
    lease_owner TEXT,
    lease_until BIGINT,
    last_error TEXT,
    -- When a host without SMTP logged it as not sent.
    logged_at BIGINT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
CREATE INDEX mail_outbox_to ON mail_outbox (to_addr, id);
