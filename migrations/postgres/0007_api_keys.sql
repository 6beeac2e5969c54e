-- API keys of principals: only the SHA-256 of each key is kept (the key is shown once, at
-- creation). `id` is the key's public part (`att_<id>_<secret>`), by which a presented key is
-- looked up; revoked keys stay, so that their name is not reused by accident.
CREATE TABLE api_keys (
    id             TEXT PRIMARY KEY NOT NULL,
    name           TEXT   NOT NULL UNIQUE,
    role           TEXT   NOT NULL,
    hash           BYTEA  NOT NULL,
    created_at_ms  BIGINT NOT NULL,
    expires_at_ms  BIGINT,
    revoked_at_ms  BIGINT
);
