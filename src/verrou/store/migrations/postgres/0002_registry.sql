-- What the check API needs: freezes and thaws, the audit chain, relying parties, the alert
-- outbox and sealed contacts. Fingerprints, hashes, sealed blobs and ids only, never plaintext.

-- At most one freeze per identity-key fingerprint; a lifted freeze is deleted (the audit log
-- keeps its history).
CREATE TABLE freezes (
    fingerprint BYTEA PRIMARY KEY,
    placed_by TEXT NOT NULL CHECK (placed_by IN ('owner', 'operator', 'report')),
    reason TEXT NOT NULL,
    since TIMESTAMPTZ NOT NULL,
    canary BOOLEAN NOT NULL DEFAULT FALSE
);

-- Relying parties: only the SHA-256 of the API key (the key itself is shown once) and a short
-- non-secret prefix of it, for display.
CREATE TABLE relying_parties (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sector TEXT NOT NULL CHECK (sector IN ('bank', 'payment', 'telco', 'insurer', 'other')),
    key_hash BYTEA NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_prefix TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);

-- A thaw lifts the freeze of its fingerprint for one relying party (NULL: all) in a window.
CREATE TABLE thaws (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint BYTEA NOT NULL REFERENCES freezes(fingerprint) ON DELETE CASCADE,
    relying_party_id TEXT REFERENCES relying_parties(id),
    starts TIMESTAMPTZ NOT NULL,
    until TIMESTAMPTZ NOT NULL,
    CHECK (until > starts)
);
CREATE INDEX thaws_fingerprint ON thaws (fingerprint, until);

-- The audit chain: the exact bytes that were hashed, and both hashes (verrou.audit.StoredEntry).
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY CHECK (seq >= 1),
    content BYTEA NOT NULL,
    prev_hash BYTEA NOT NULL CHECK (length(prev_hash) = 32),
    entry_hash BYTEA NOT NULL UNIQUE CHECK (length(entry_hash) = 32)
);

-- The chain head, one row: every append locks it (SELECT ... FOR UPDATE) for the length of its
-- transaction, so concurrent writers take turns and never fork the chain or reuse a seq.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL,
    entry_hash BYTEA NOT NULL CHECK (length(entry_hash) = 32)
);
-- seq 0 and the genesis hash (32 zero bytes): the first entry's prev_hash.
INSERT INTO audit_head (id, seq, entry_hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- Append-only, as far as the database can say so: rewriting the log takes DDL rights (to drop
-- this trigger), and the hash chain plus signed checkpoints catch it then.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_rewrite BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Alerts waiting for delivery; the contact is sealed (verrou.contacts), never in clear.
CREATE TABLE alert_outbox (
    queued BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    alert_id TEXT PRIMARY KEY,
    subject_fingerprint BYTEA NOT NULL,
    kind TEXT NOT NULL,
    relying_party TEXT NOT NULL,
    alert_at TIMESTAMPTZ NOT NULL,
    check_id TEXT NOT NULL,
    sealed_contact BYTEA NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    last_error TEXT,
    delivered_at TIMESTAMPTZ
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at, queued) WHERE status = 'pending';

-- Citizens' contacts, sealed to their subject fingerprint.
CREATE TABLE contacts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject_fingerprint BYTEA NOT NULL,
    sealed BYTEA NOT NULL
);
CREATE INDEX contacts_subject ON contacts (subject_fingerprint);
