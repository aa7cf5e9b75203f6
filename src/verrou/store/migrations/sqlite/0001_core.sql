-- Core registry: breaches, ingest runs, fingerprint blocks. Fingerprints only, never plaintext.
CREATE TABLE breaches (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    title TEXT,
    source TEXT,
    description TEXT,
    data_classes TEXT NOT NULL DEFAULT '[]',
    record_count INTEGER NOT NULL DEFAULT 0,
    intrusion_started_at TEXT,
    detected_at TEXT,
    contained_at TEXT,
    disclosed_at TEXT,
    ingested_at TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE ingest_runs (
    id INTEGER PRIMARY KEY,
    uid BLOB NOT NULL UNIQUE,
    breach_id INTEGER NOT NULL REFERENCES breaches(id),
    file_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    format TEXT NOT NULL,
    mapping TEXT NOT NULL,
    key_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
    started_at TEXT NOT NULL,
    finished_at TEXT,
    records_done INTEGER NOT NULL DEFAULT 0,
    batches_done INTEGER NOT NULL DEFAULT 0,
    counts TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    UNIQUE (breach_id, file_sha256)
);

-- Staging segments of a run in progress live in a file of their own beside this one
-- (see verrou.store.sqlite._Staging), deleted when the run is merged.

-- The registry proper: one row per (fingerprint prefix, completed run), sorted entries.
CREATE TABLE exposure_blocks (
    prefix INTEGER NOT NULL,
    run_id INTEGER NOT NULL REFERENCES ingest_runs(id),
    entries BLOB NOT NULL
);
CREATE UNIQUE INDEX exposure_blocks_key ON exposure_blocks (prefix, run_id);

-- Rejected values: position, reason and a masked value, never the value itself.
CREATE TABLE ingest_rejects (
    run_id INTEGER NOT NULL REFERENCES ingest_runs(id),
    row INTEGER NOT NULL,
    column_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    masked TEXT NOT NULL
);
CREATE INDEX ingest_rejects_run ON ingest_rejects (run_id, row);
