-- The `/mcp` sessions of the cluster (`http::mcp_shared`): what any att sharing this database
-- needs to resume a session another att opened — the client's `initialize` parameters, the
-- principal the session is bound to (NULL: an open att's anonymous caller), the endpoint it
-- was opened on (`/mcp` or `/mcp/{profile}`), its log level and its resource subscriptions.
-- `seen_at_ms` is written every few seconds by each att that holds the session in memory; a
-- row not seen for `[http] mcp_session_idle` is expired and deleted by the next sweep.
CREATE TABLE mcp_sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    principal     TEXT,
    endpoint      TEXT   NOT NULL,
    initialize    TEXT   NOT NULL,
    log_level     TEXT,
    subscriptions TEXT[] NOT NULL DEFAULT '{}',
    created_at_ms BIGINT NOT NULL,
    seen_at_ms    BIGINT NOT NULL
);
CREATE INDEX mcp_sessions_by_principal ON mcp_sessions (principal, seen_at_ms);
CREATE INDEX mcp_sessions_by_seen ON mcp_sessions (seen_at_ms);
