-- The ledger (issue 4): balances per (coop, account, currency), balanced
-- transactions recorded once per idempotency key, and their postings.
-- Nothing here is ever updated except `ledger_accounts.balance`, which is
-- kept equal to the sum of the account's postings.
CREATE TABLE ledger_accounts (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    -- AccountKind::code(), e.g. wallet:42, escrow:order-17, revenue.
    code TEXT NOT NULL,
    currency TEXT NOT NULL,
    balance BIGINT NOT NULL DEFAULT 0,
    -- 0/1: only external clearing may go below zero.
    may_go_negative BIGINT NOT NULL,
    PRIMARY KEY (coop_id, code, currency),
    -- The last line of defence; the repository refuses first, with a message.
    CHECK (may_go_negative = 1 OR balance >= 0)
);

CREATE TABLE ledger_transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    idempotency_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    memo TEXT NOT NULL,
    -- Transaction::fingerprint(): a replay with other content is a conflict.
    fingerprint TEXT NOT NULL,
    -- The transaction this one compensates, for reversals.
    reverses BIGINT REFERENCES ledger_transactions(id),
    created_at BIGINT NOT NULL,
    UNIQUE (coop_id, idempotency_key),
    UNIQUE (coop_id, reverses)
);

CREATE TABLE ledger_postings (
    transaction_id BIGINT NOT NULL REFERENCES ledger_transactions(id),
    -- The order of the posting within its transaction, from 0.
    position BIGINT NOT NULL,
    coop_id BIGINT NOT NULL,
    account TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (transaction_id, position),
    FOREIGN KEY (coop_id, account, currency) REFERENCES ledger_accounts(coop_id, code, currency)
);
CREATE INDEX ledger_postings_by_account ON ledger_postings (coop_id, account, currency, transaction_id);
