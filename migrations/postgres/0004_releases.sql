-- The release registry and the pipeline's runs; `data` is the JSON form of the record.
-- `seq` orders rows made in the same millisecond by insertion (SQLite's `rowid`).
CREATE TABLE releases (
    target        TEXT   NOT NULL,
    id            TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    data          TEXT   NOT NULL,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (target, id)
);
CREATE TABLE runs (
    id            TEXT PRIMARY KEY NOT NULL,
    target        TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    data          TEXT   NOT NULL,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX runs_created ON runs (created_at_ms);
