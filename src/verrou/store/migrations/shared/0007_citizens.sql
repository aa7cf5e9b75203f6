-- Citizens (issue 9): who signed in, which keys their verified identity owns, the index of
-- checks by key ("who checked my identity"), identity-theft reports and attestations.
-- No claim value is stored: a citizen is known by a keyed hash of (issuer, subject), their
-- keys by fingerprint; names are rendered at download from the session, never kept.

-- One row per person who signed in.
CREATE TABLE citizens (
    id TEXT PRIMARY KEY,
    subject_ref {{bytes}} NOT NULL UNIQUE CHECK (length(subject_ref) = 16),
    created_at {{time}} NOT NULL,
    last_sign_in {{time}} NOT NULL
);

-- The keys a citizen claims: from the verified sign-in claims (person keys), from an email
-- proven by a one-time code, or bound without proof (documents, NIR, IBAN, phone). A key two
-- citizens claim is a conflict: it stays frozen and goes to the operators.
CREATE TABLE citizen_keys (
    citizen_id TEXT NOT NULL REFERENCES citizens(id),
    fingerprint {{bytes}} NOT NULL,
    attribute TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('claims', 'email', 'bound')),
    added_at {{time}} NOT NULL,
    PRIMARY KEY (citizen_id, fingerprint)
);
CREATE INDEX citizen_keys_by_fingerprint ON citizen_keys (fingerprint);

-- One-time codes proving an email: only a keyed hash of the code is kept, and the address
-- sealed like a contact; a code is used once, within its time, in a few attempts.
CREATE TABLE email_codes (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL REFERENCES citizens(id),
    fingerprint {{bytes}} NOT NULL,
    sealed_contact {{bytes}} NOT NULL,
    code_hash {{bytes}} NOT NULL CHECK (length(code_hash) = 32),
    created_at {{time}} NOT NULL,
    expires_at {{time}} NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    used_at {{time}}
);
CREATE INDEX email_codes_by_citizen ON email_codes (citizen_id, created_at);

-- Whose freeze a freeze is: the citizen who placed it as owner (NULL: an operator, a report,
-- a canary, or an owner's freeze placed from the command line before citizens signed in).
ALTER TABLE freezes ADD COLUMN owner_ref TEXT;

-- The checks of each key: (fingerprint, the check's audit seq), written in the check's own
-- transaction, so "who checked me" reads its keys' entries by index instead of the whole log.
-- Nothing else: the entry holds the time, relying party and verdict, and seq order is time
-- order. One small B-tree row a key, because every check pays for it.
CREATE TABLE check_subjects (
    fingerprint {{bytes}} NOT NULL,
    seq {{bigint}} NOT NULL,
    PRIMARY KEY (fingerprint, seq)
){{without_rowid}};

-- What an alert tells beyond its kind (a thaw's end, a breach and its data classes), as JSON.
ALTER TABLE alert_outbox ADD COLUMN detail TEXT;

-- Identity-theft reports and exposure attestations: their signed claims (ids and codes, never
-- personal data) and status; a citizen's free text, if any, sealed like contacts.
CREATE TABLE reports (
    id TEXT PRIMARY KEY,
    citizen_id TEXT NOT NULL REFERENCES citizens(id),
    kind TEXT NOT NULL CHECK (kind IN ('report', 'attestation')),
    issued_at {{time}} NOT NULL,
    expires_at {{time}},
    status TEXT NOT NULL CHECK (status IN ('valid', 'withdrawn')),
    withdrawn_at {{time}},
    claims TEXT NOT NULL,
    token TEXT NOT NULL,
    sealed_note {{bytes}}
);
CREATE INDEX reports_by_citizen ON reports (citizen_id, issued_at);

-- The checks a report disputes, so a relying party can ask which of its own checks it names.
CREATE TABLE report_checks (
    report_id TEXT NOT NULL REFERENCES reports(id),
    check_id TEXT NOT NULL,
    relying_party_id TEXT NOT NULL,
    PRIMARY KEY (report_id, check_id)
);
