-- What serving checks adds: a relying party's own rate limit (checks per minute; NULL: the
-- server's VERROU_RATE_LIMIT), and the registration a sealed contact belongs to (one citizen's
-- contact sealed to each of their keys shares one random owner_ref, so one check alerts once).
ALTER TABLE relying_parties ADD COLUMN rate_limit INTEGER CHECK (rate_limit IS NULL OR rate_limit > 0);
ALTER TABLE contacts ADD COLUMN owner_ref TEXT;
