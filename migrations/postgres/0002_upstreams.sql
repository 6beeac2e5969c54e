-- Upstream MCP servers registered over the API; `spec` is the JSON wire form.
CREATE TABLE upstreams (
    name          TEXT PRIMARY KEY NOT NULL,
    spec          TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
