-- Dashboard sessions, so that a browser stays logged in across a restart of att. The key is
-- the SHA-256 of the session id (the cookie's value is never stored); the credential the
-- session was opened with is sealed like every secret at rest. Expired rows are deleted when
-- att starts and at each login; att keeps at most 1,024 sessions.
CREATE TABLE dashboard_sessions (
    id_hash       BYTEA PRIMARY KEY NOT NULL,
    credential    TEXT,
    csrf          TEXT   NOT NULL,
    opened_at_ms  BIGINT NOT NULL,
    seen_at_ms    BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_seen ON dashboard_sessions (seen_at_ms);
