-- The event log. `at_ms` is when the event happened (Unix milliseconds, UTC). `data` is the
-- JSON text (as in SQLite: `json` would refuse nothing more, `jsonb` would refuse `\u0000`
-- in a payload); filters cast it. Ids come from an identity column; appends take a
-- transaction-scoped advisory lock so that ids commit in order (see `postgres/events.rs`).
CREATE TABLE events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms          BIGINT NOT NULL,
    kind           TEXT   NOT NULL,
    correlation_id TEXT,
    data           TEXT   NOT NULL
);
CREATE INDEX events_kind ON events (kind, id);
CREATE INDEX events_correlation ON events (correlation_id, id) WHERE correlation_id IS NOT NULL;
CREATE INDEX events_at ON events (at_ms);
