-- coophost schema, SQLite flavour. Times are milliseconds since the epoch.
CREATE TABLE host_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE coops (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    is_operator BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE members (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    user_id BIGINT NOT NULL REFERENCES users(id),
    roles TEXT NOT NULL,
    college TEXT,
    status TEXT NOT NULL DEFAULT 'active',
    joined_at BIGINT NOT NULL,
    UNIQUE (coop_id, user_id)
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL,
    failed_at BIGINT NOT NULL
);
CREATE INDEX login_failures_email ON login_failures (email, failed_at);

-- Component bytes live in the database so hosts sharing one database serve
-- the same plugins; the compile cache stays on each host's local disk.
CREATE TABLE components (
    sha256 TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    size BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE plugins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    sha256 TEXT NOT NULL REFERENCES components(sha256),
    manifest TEXT NOT NULL,
    licence TEXT NOT NULL,
    source TEXT NOT NULL,
    installed_at BIGINT NOT NULL,
    active BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX plugins_coop ON plugins (coop_id, name);

-- Which plugin serves an interface in a coop: clients address the interface.
CREATE TABLE bindings (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    interface TEXT NOT NULL,
    version TEXT NOT NULL,
    plugin_id BIGINT NOT NULL REFERENCES plugins(id),
    PRIMARY KEY (coop_id, interface)
);

CREATE TABLE plugin_config (
    coop_id BIGINT NOT NULL REFERENCES coops(id),
    plugin TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (coop_id, plugin, name)
);

-- Member ids as one plugin sees them, so the host can map them back.
CREATE TABLE plugin_member_ids (
    coop_id BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    pseudo_id TEXT NOT NULL,
    member_id BIGINT NOT NULL REFERENCES members(id),
    PRIMARY KEY (coop_id, plugin, pseudo_id)
);

CREATE TABLE kv (
    coop_id BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    version BIGINT NOT NULL,
    member_pseudo TEXT,
    member_id BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (coop_id, plugin, key)
);
CREATE INDEX kv_member ON kv (member_id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    coop_id BIGINT NOT NULL,
    plugin TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    member_id BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX events_coop ON events (coop_id, id);
