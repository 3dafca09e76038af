-- Issue 7, item 5: each coop's Ed25519 keys for signing work credentials.
-- Numbered per coop (`key-{seq}`); the newest key neither retired nor
-- revoked signs. Retired keys stay published so what they signed verifies
-- until it expires; revoked keys stay published so verifiers refuse it.
CREATE TABLE credential_keys (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    seq BIGINT NOT NULL,
    -- Multikey (z6Mk...).
    public_key TEXT NOT NULL,
    -- hex(nonce || ChaCha20-Poly1305(seed)), under a key derived from the
    -- host secret, with the coop and seq as associated data.
    sealed_secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT,
    revoked_at BIGINT,
    revoked_reason TEXT,
    PRIMARY KEY (coop_id, seq)
);
