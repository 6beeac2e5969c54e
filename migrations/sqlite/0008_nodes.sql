-- The att processes sharing this database (one row per node, by its id from
-- `<data_dir>/node-id`): where it listens, what it runs, when it started and when it last
-- said it was alive (every few seconds). Nodes silent for a day are forgotten.
CREATE TABLE nodes (
    id              TEXT PRIMARY KEY NOT NULL,
    address         TEXT    NOT NULL,
    version         TEXT    NOT NULL,
    started_at_ms   INTEGER NOT NULL,
    heartbeat_at_ms INTEGER NOT NULL
);
