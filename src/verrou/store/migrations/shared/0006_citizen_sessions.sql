-- Citizen sessions (cookie sessions and the bearer tokens issued from them). A row holds the
-- SHA-256 of the session id, never the id itself nor anything personal: the citizen's display
-- name travels only inside their sealed token (verrou.registry.sessions). Expired rows are
-- purged (verrou.store.sql_sessions.SqlSessions.purge_expired).
CREATE TABLE citizen_sessions (
    sid_hash {{bytes}} PRIMARY KEY CHECK (length(sid_hash) = 32),
    citizen_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('cookie', 'bearer')),
    issued_from {{bytes}} REFERENCES citizen_sessions (sid_hash) ON DELETE CASCADE,
    csrf_hash {{bytes}},
    acr TEXT NOT NULL,
    auth_time {{time}} NOT NULL,
    created_at {{time}} NOT NULL,
    expires_at {{time}} NOT NULL,
    revoked_at {{time}},
    CHECK (expires_at > created_at),
    -- A cookie session is the one a CSRF token guards; a bearer token comes from one.
    CHECK (
        (kind = 'cookie' AND csrf_hash IS NOT NULL AND issued_from IS NULL)
        OR (kind = 'bearer' AND csrf_hash IS NULL)
    )
);
CREATE INDEX citizen_sessions_expiry ON citizen_sessions (expires_at);
CREATE INDEX citizen_sessions_issued_from ON citizen_sessions (issued_from);
CREATE INDEX citizen_sessions_citizen ON citizen_sessions (citizen_id);
