-- What the check API needs: freezes and thaws, the audit chain, relying parties, the alert
-- outbox and sealed contacts. Fingerprints, hashes, sealed blobs and ids only, never plaintext.
-- Times in the new tables are UTC text of one fixed width (verrou.audit.format_at), so that
-- comparing them as text compares the moments.

-- At most one freeze per identity-key fingerprint; a lifted freeze is deleted (the audit log
-- keeps its history).
CREATE TABLE freezes (
    fingerprint BLOB PRIMARY KEY,
    placed_by TEXT NOT NULL CHECK (placed_by IN ('owner', 'operator', 'report')),
    reason TEXT NOT NULL,
    since TEXT NOT NULL,
    canary INTEGER NOT NULL DEFAULT 0 CHECK (canary IN (0, 1))
);

-- Relying parties: only the SHA-256 of the API key (the key itself is shown once) and a short
-- non-secret prefix of it, for display.
CREATE TABLE relying_parties (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sector TEXT NOT NULL CHECK (sector IN ('bank', 'payment', 'telco', 'insurer', 'other')),
    key_hash BLOB NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

-- A thaw lifts the freeze of its fingerprint for one relying party (NULL: all) in a window.
CREATE TABLE thaws (
    id INTEGER PRIMARY KEY,
    fingerprint BLOB NOT NULL REFERENCES freezes(fingerprint) ON DELETE CASCADE,
    relying_party_id TEXT REFERENCES relying_parties(id),
    starts TEXT NOT NULL,
    until TEXT NOT NULL,
    CHECK (until > starts)
);
CREATE INDEX thaws_fingerprint ON thaws (fingerprint, until);

-- The audit chain: the exact bytes that were hashed, and both hashes (verrou.audit.StoredEntry).
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY CHECK (seq >= 1),
    content BLOB NOT NULL,
    prev_hash BLOB NOT NULL CHECK (length(prev_hash) = 32),
    entry_hash BLOB NOT NULL UNIQUE CHECK (length(entry_hash) = 32)
);

-- The chain head, one row. SQLite has one writer (BEGIN IMMEDIATE), so appends already take
-- turns; the row saves reading the last entry back.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    entry_hash BLOB NOT NULL CHECK (length(entry_hash) = 32)
);
-- seq 0 and the genesis hash (32 zero bytes): the first entry's prev_hash.
INSERT INTO audit_head (id, seq, entry_hash) VALUES (1, 0, zeroblob(32));

-- Append-only, as far as the database can say so: rewriting the log takes dropping these
-- triggers, and the hash chain plus signed checkpoints catch it then.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

-- Alerts waiting for delivery; the contact is sealed (verrou.contacts), never in clear.
CREATE TABLE alert_outbox (
    queued INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL UNIQUE,
    subject_fingerprint BLOB NOT NULL,
    kind TEXT NOT NULL,
    relying_party TEXT NOT NULL,
    alert_at TEXT NOT NULL,
    check_id TEXT NOT NULL,
    sealed_contact BLOB NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    last_error TEXT,
    delivered_at TEXT
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at, queued) WHERE status = 'pending';

-- Citizens' contacts, sealed to their subject fingerprint.
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    subject_fingerprint BLOB NOT NULL,
    sealed BLOB NOT NULL
);
CREATE INDEX contacts_subject ON contacts (subject_fingerprint);
