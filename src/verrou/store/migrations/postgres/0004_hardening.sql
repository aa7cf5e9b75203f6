-- The id of the fingerprint key this registry is built with (never the key itself): one row,
-- written by the first command that uses a fingerprint key on the registry (see
-- verrou.store.sql.SqlRegistry.bind_fingerprint_key). A registry from before this migration
-- adopts the key id of its ingest runs at that moment.
CREATE TABLE registry_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_id TEXT NOT NULL,
    bound_at TIMESTAMPTZ NOT NULL
);
