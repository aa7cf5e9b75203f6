-- The canonicaliser version of each identifier kind this registry's fingerprints were made
-- with. A fingerprint hashes kind, version and canonical value, so a verrou whose canonicaliser
-- of a kind has another version computes other keys for the same person: its checks would miss
-- every freeze and exposure of that kind, and a frozen identity would come back clear. Every
-- keyed command therefore refuses a registry whose recorded versions differ from its own
-- (verrou.store.sql.SqlRegistry.bind_fingerprint_key), and records the kinds it does not hold.
CREATE TABLE registry_canonicalisers (
    kind TEXT PRIMARY KEY,
    version INTEGER NOT NULL CHECK (version >= 1),
    bound_at {{time}} NOT NULL
);

-- A registry that already holds key-derived data was built before versions were recorded,
-- when every canonicaliser was at version 1: that is what it holds. An empty registry records
-- the versions of the first verrou that uses it.
INSERT INTO registry_canonicalisers (kind, version, bound_at)
SELECT kind, 1, {{now}}
FROM (
    SELECT 'nir' AS kind UNION ALL SELECT 'cni' UNION ALL SELECT 'passport'
    UNION ALL SELECT 'driving_licence' UNION ALL SELECT 'residence_permit' UNION ALL SELECT 'iban'
    UNION ALL SELECT 'email' UNION ALL SELECT 'phone' UNION ALL SELECT 'account_id'
    UNION ALL SELECT 'postal_address' UNION ALL SELECT 'person'
) AS kinds
WHERE EXISTS (SELECT 1 FROM ingest_runs)
   OR EXISTS (SELECT 1 FROM freezes)
   OR EXISTS (SELECT 1 FROM thaws)
   OR EXISTS (SELECT 1 FROM contacts);
