-- Operators (the portal's operator sign-in): a name and a scrypt password hash each, and their
-- sessions, kept apart from citizens' (no citizen session can be read as an operator's). A
-- session row holds the SHA-256 of its id and of its CSRF token, never either secret.
CREATE TABLE operators (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at {{time}} NOT NULL,
    disabled_at {{time}}
);

CREATE TABLE operator_sessions (
    sid_hash {{bytes}} PRIMARY KEY CHECK (length(sid_hash) = 32),
    operator TEXT NOT NULL REFERENCES operators (name),
    csrf_hash {{bytes}} NOT NULL CHECK (length(csrf_hash) = 32),
    created_at {{time}} NOT NULL,
    expires_at {{time}} NOT NULL,
    revoked_at {{time}},
    CHECK (expires_at > created_at)
);
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator);
