-- Core registry: breaches, ingest runs, fingerprint blocks. Fingerprints only, never plaintext.
CREATE TABLE breaches (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    title TEXT,
    source TEXT,
    description TEXT,
    data_classes JSONB NOT NULL DEFAULT '[]',
    record_count BIGINT NOT NULL DEFAULT 0,
    intrusion_started_at TIMESTAMPTZ,
    detected_at TIMESTAMPTZ,
    contained_at TIMESTAMPTZ,
    disclosed_at TIMESTAMPTZ,
    ingested_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE ingest_runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    uid BYTEA NOT NULL UNIQUE,
    breach_id BIGINT NOT NULL REFERENCES breaches(id),
    file_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    file_size BIGINT NOT NULL,
    format TEXT NOT NULL,
    mapping JSONB NOT NULL,
    key_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    records_done BIGINT NOT NULL DEFAULT 0,
    batches_done INTEGER NOT NULL DEFAULT 0,
    counts JSONB NOT NULL DEFAULT '{}',
    error TEXT,
    UNIQUE (breach_id, file_sha256)
);

-- Staging while a run is under way: one row per (run, coarse prefix, batch). UNLOGGED: no WAL
-- for data that is rewritten into exposure_blocks at the end; a server crash empties it, and a
-- resumed run that finds its staged batches gone starts again from its first record.
-- Entries are random bytes: never try to compress them.
CREATE UNLOGGED TABLE ingest_segments (
    run_id BIGINT NOT NULL,
    prefix INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    entries BYTEA NOT NULL,
    PRIMARY KEY (run_id, prefix, seq)
);
ALTER TABLE ingest_segments ALTER COLUMN entries SET STORAGE EXTERNAL;

-- The registry proper: one row per (fingerprint prefix, completed run), sorted entries.
-- The prefix is uniformly random, so this table shards by hash of prefix (Citus) without skew.
CREATE TABLE exposure_blocks (
    prefix INTEGER NOT NULL,
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    entries BYTEA NOT NULL,
    PRIMARY KEY (prefix, run_id)
);
ALTER TABLE exposure_blocks ALTER COLUMN entries SET STORAGE EXTERNAL;

-- Rejected values: position, reason and a masked value, never the value itself.
CREATE TABLE ingest_rejects (
    run_id BIGINT NOT NULL REFERENCES ingest_runs(id),
    row BIGINT NOT NULL,
    column_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    masked TEXT NOT NULL
);
CREATE INDEX ingest_rejects_run ON ingest_rejects (run_id, row);
