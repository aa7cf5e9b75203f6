-- The id of the fingerprint key this registry is built with (never the key itself): one row,
-- written by the first command that uses a fingerprint key on the registry (see
-- verrou.store.sql.SqlRegistry.bind_fingerprint_key). A registry from before this migration
-- adopts the key id of its ingest runs at that moment.
CREATE TABLE registry_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_id TEXT NOT NULL,
    bound_at {{time}} NOT NULL
);

-- Alert coalescing: one alert per owner (the contact's registration, owner_ref) per relying
-- party per window (whole seconds since the epoch, [window_start, window_end)), counting the
-- checks it tells of (checks; the last one at last_check_at). Alerts queued before this
-- migration, and alerts queued one by one (enqueue_alert), have NULL keys and never coalesce.
ALTER TABLE alert_outbox ADD COLUMN owner_ref TEXT;
ALTER TABLE alert_outbox ADD COLUMN relying_party_id TEXT;
ALTER TABLE alert_outbox ADD COLUMN window_start {{bigint}};
ALTER TABLE alert_outbox ADD COLUMN window_end {{bigint}};
ALTER TABLE alert_outbox ADD COLUMN checks INTEGER NOT NULL DEFAULT 1 CHECK (checks >= 1);
ALTER TABLE alert_outbox ADD COLUMN last_check_at {{time}};
CREATE UNIQUE INDEX alert_outbox_window ON alert_outbox (owner_ref, relying_party_id, window_start);
