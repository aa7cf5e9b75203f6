-- PostgreSQL's own part of 0002 (after shared/0002_registry.sql).

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
