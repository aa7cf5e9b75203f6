-- SQLite's own part of 0002 (after shared/0002_registry.sql). Times in that migration's tables
-- are UTC text of one fixed width (verrou.audit.format_at), so that comparing them as text
-- compares the moments.

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
