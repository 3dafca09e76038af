-- Issue 5: delivering events to plugins that export coop:host/subscriber.
-- One cursor per installed plugin: the last event id handled.
CREATE TABLE event_cursors (
    plugin_id BIGINT PRIMARY KEY REFERENCES plugins(id),
    last_event_id BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    retry_at BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

-- Events skipped after repeated failures, for admins to see.
CREATE TABLE event_dead_letters (
    plugin_id BIGINT NOT NULL,
    event_id BIGINT NOT NULL,
    error TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (plugin_id, event_id)
);
