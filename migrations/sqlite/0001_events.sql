-- The event log. `at_ms` is when the event happened (Unix milliseconds, UTC).
CREATE TABLE events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms          INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    correlation_id TEXT,
    data           TEXT    NOT NULL
);
CREATE INDEX events_kind ON events (kind, id);
CREATE INDEX events_correlation ON events (correlation_id, id) WHERE correlation_id IS NOT NULL;
CREATE INDEX events_at ON events (at_ms);
