-- Canary identities (operators, part 2): made-up people planted in a source, whose every check
-- is denied and raises an incident, and whose presence in a dump names the source it came from.
-- Ids, sources, dates and fingerprints only: a canary's values exist in its planting CSV alone.

-- One row per canary: its id, the source it was planted in, and when.
CREATE TABLE canaries (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    planted_at {{time}} NOT NULL
);
CREATE INDEX canaries_by_planting ON canaries (planted_at, id);

-- The keys of each canary (one per identifier kind, several for its person), by fingerprint:
-- each key also holds a canary freeze (freezes.canary), so checks need no look here.
CREATE TABLE canary_keys (
    fingerprint {{bytes}} PRIMARY KEY,
    canary_id TEXT NOT NULL REFERENCES canaries (id),
    kind TEXT NOT NULL
){{without_rowid}};
CREATE INDEX canary_keys_by_canary ON canary_keys (canary_id);

-- What ingests found about where a breach's data came from and when, for its timeline.
-- `canary`: `canaries` canaries of `source`, planted at `planted_at`, are in the run's dump:
-- the data came from that source and was taken on or after that date.
CREATE TABLE breach_evidence (
    id {{id}},
    breach_id {{bigint}} NOT NULL REFERENCES breaches (id),
    run_id {{bigint}} NOT NULL REFERENCES ingest_runs (id),
    kind TEXT NOT NULL CHECK (kind IN ('canary')),
    source TEXT NOT NULL,
    canaries INTEGER NOT NULL CHECK (canaries > 0),
    planted_at {{time}} NOT NULL,
    recorded_at {{time}} NOT NULL,
    UNIQUE (run_id, kind, source, planted_at)
);
CREATE INDEX breach_evidence_by_breach ON breach_evidence (breach_id, planted_at);
