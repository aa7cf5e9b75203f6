-- What the check API needs: freezes and thaws, the audit chain, relying parties, the alert
-- outbox and sealed contacts. Fingerprints, hashes, sealed blobs and ids only, never plaintext.
-- The chain head's first row and the log's append-only triggers are each dialect's own
-- (sqlite/, postgres/ 0002_registry.sql), run after this.

-- At most one freeze per identity-key fingerprint; a lifted freeze is deleted (the audit log
-- keeps its history).
CREATE TABLE freezes (
    fingerprint {{bytes}} PRIMARY KEY,
    placed_by TEXT NOT NULL CHECK (placed_by IN ('owner', 'operator', 'report')),
    reason TEXT NOT NULL,
    since {{time}} NOT NULL,
    canary {{flag:canary}}
);

-- Relying parties: only the SHA-256 of the API key (the key itself is shown once) and a short
-- non-secret prefix of it, for display.
CREATE TABLE relying_parties (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sector TEXT NOT NULL CHECK (sector IN ('bank', 'payment', 'telco', 'insurer', 'other')),
    key_hash {{bytes}} NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_prefix TEXT NOT NULL,
    created_at {{time}} NOT NULL,
    revoked_at {{time}}
);

-- A thaw lifts the freeze of its fingerprint for one relying party (NULL: all) in a window.
CREATE TABLE thaws (
    id {{id}},
    fingerprint {{bytes}} NOT NULL REFERENCES freezes(fingerprint) ON DELETE CASCADE,
    relying_party_id TEXT REFERENCES relying_parties(id),
    starts {{time}} NOT NULL,
    until {{time}} NOT NULL,
    CHECK (until > starts)
);
CREATE INDEX thaws_fingerprint ON thaws (fingerprint, until);

-- The audit chain: the exact bytes that were hashed, and both hashes (verrou.audit.StoredEntry).
CREATE TABLE audit_log (
    seq {{bigint}} PRIMARY KEY CHECK (seq >= 1),
    content {{bytes}} NOT NULL,
    prev_hash {{bytes}} NOT NULL CHECK (length(prev_hash) = 32),
    entry_hash {{bytes}} NOT NULL UNIQUE CHECK (length(entry_hash) = 32)
);

-- The chain head, one row, which every append takes first (see verrou.store.sql): PostgreSQL
-- locks it (SELECT ... FOR UPDATE) for the length of the transaction, so concurrent writers
-- take turns and never fork the chain or reuse a seq; SQLite has one writer (BEGIN IMMEDIATE),
-- so appends already take turns there, and the row saves reading the last entry back.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq {{bigint}} NOT NULL,
    entry_hash {{bytes}} NOT NULL CHECK (length(entry_hash) = 32)
);

-- Alerts waiting for delivery, in the order they were queued; the contact is sealed
-- (verrou.contacts), never in clear.
CREATE TABLE alert_outbox (
    queued {{serial}},
    alert_id TEXT {{key_beside_serial}},
    subject_fingerprint {{bytes}} NOT NULL,
    kind TEXT NOT NULL,
    relying_party TEXT NOT NULL,
    alert_at {{time}} NOT NULL,
    check_id TEXT NOT NULL,
    sealed_contact {{bytes}} NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at {{time}} NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    last_error TEXT,
    delivered_at {{time}}
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at, queued) WHERE status = 'pending';

-- Citizens' contacts, sealed to their subject fingerprint.
CREATE TABLE contacts (
    id {{id}},
    subject_fingerprint {{bytes}} NOT NULL,
    sealed {{bytes}} NOT NULL
);
CREATE INDEX contacts_subject ON contacts (subject_fingerprint);
