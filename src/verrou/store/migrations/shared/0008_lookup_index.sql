-- The private exposure check's index (verrou.lookup): one row per (16-bit bucket, completed
-- run), its entries sorted. An entry is an ingest entry (verrou.fingerprints.ENTRY_DTYPE) whose
-- 16 bytes are the bucket and the value's tag in its breach, and whose kind byte has the
-- lookup bit set: nothing in it can be tied to a value without the OPRF key.
CREATE TABLE lookup_blocks (
    prefix INTEGER NOT NULL,
    run_id {{bigint}} NOT NULL REFERENCES ingest_runs (id),
    entries {{bytes}} NOT NULL,
    PRIMARY KEY (prefix, run_id)
);
