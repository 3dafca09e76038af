-- Issue 4, second half: what settlements were (for statements), the
-- floor's per-period results, bank details, payout runs and the record of
-- admins reading a member's money.

-- The earnings floor's policy on a shortfall: 'top-up' from the solidarity
-- fund, or 'flag' it publicly.
ALTER TABLE floor_rates ADD COLUMN on_shortfall TEXT NOT NULL DEFAULT 'top-up';

-- One row per settlement posted, written in the same transaction as its
-- ledger transaction: the figures a statement needs, and the split policy
-- version used.
CREATE TABLE settlements (
    transaction_id BIGINT PRIMARY KEY REFERENCES ledger_transactions(id),
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    order_ref TEXT NOT NULL,
    member_id BIGINT NOT NULL,
    policy_version BIGINT NOT NULL,
    currency TEXT NOT NULL,
    gross BIGINT NOT NULL,
    commission BIGINT NOT NULL,
    processor_fee BIGINT NOT NULL,
    -- The part of the processor fee the worker bore (0 unless the policy
    -- has the worker bear it).
    worker_fee BIGINT NOT NULL,
    cae_fee BIGINT NOT NULL,
    worker_net BIGINT NOT NULL,
    settled_at BIGINT NOT NULL
);
CREATE INDEX settlements_by_member ON settlements (coop_id, member_id, settled_at);

-- The floor computed for one worker and one period, once.
CREATE TABLE floor_results (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    member_id BIGINT NOT NULL,
    period_start BIGINT NOT NULL,
    period_end BIGINT NOT NULL,
    currency TEXT NOT NULL,
    on_shift_ms BIGINT NOT NULL,
    earned BIGINT NOT NULL,
    floor_owed BIGINT NOT NULL,
    shortfall BIGINT NOT NULL,
    topped_up BIGINT NOT NULL,
    -- 0/1: the shortfall (or what the fund could not cover) is published.
    flagged BIGINT NOT NULL,
    subscription_fee BIGINT NOT NULL,
    computed_at BIGINT NOT NULL,
    PRIMARY KEY (coop_id, member_id, period_start)
);

-- A member's account for payouts, checked (mod 97) at entry.
CREATE TABLE bank_accounts (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    -- 0 is the coop's own account, the debtor of its payout files.
    member_id BIGINT NOT NULL,
    holder_name TEXT NOT NULL,
    iban TEXT NOT NULL,
    bic TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (coop_id, member_id)
);

-- Executed payout runs; the file is kept so it can be downloaded again.
CREATE TABLE payout_runs (
    id BIGSERIAL PRIMARY KEY,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    msg_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    total BIGINT NOT NULL,
    payouts BIGINT NOT NULL,
    -- JSON: the PayoutRun the file was made from.
    run TEXT NOT NULL,
    file TEXT NOT NULL,
    transaction_id BIGINT NOT NULL REFERENCES ledger_transactions(id),
    executed_by BIGINT,
    executed_at BIGINT NOT NULL,
    UNIQUE (coop_id, msg_id)
);

-- Every time an admin reads a member's money (statement, wallet history).
-- The data-ethics issue folds this into the hash-chained audit log.
CREATE TABLE data_access_log (
    id BIGSERIAL PRIMARY KEY,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    reader_member_id BIGINT,
    reader TEXT NOT NULL,
    subject_member_id BIGINT NOT NULL,
    what TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX data_access_by_subject ON data_access_log (coop_id, subject_member_id, id);
