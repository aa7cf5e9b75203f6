-- The outcome curve's counts (verrou.registry.outcomes): per breach, relying-party sector and
-- day (UTC, YYYY-MM-DD), what happened to the identities the breach exposed. Each check and
-- each identity-theft report adds to its rows in its own transaction, so a breach's curve
-- reads a few hundred rows, never the audit log. Counts only: nothing about a person.
CREATE TABLE outcome_counts (
    breach_id {{bigint}} NOT NULL REFERENCES breaches (id),
    sector TEXT NOT NULL,
    day TEXT NOT NULL CHECK (length(day) = 10),
    checks {{bigint}} NOT NULL DEFAULT 0,
    step_up {{bigint}} NOT NULL DEFAULT 0,
    deny {{bigint}} NOT NULL DEFAULT 0,
    reports {{bigint}} NOT NULL DEFAULT 0,
    canary_hits {{bigint}} NOT NULL DEFAULT 0,
    PRIMARY KEY (breach_id, sector, day)
){{without_rowid}};
