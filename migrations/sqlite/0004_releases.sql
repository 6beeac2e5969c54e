-- The release registry and the pipeline's runs; `data` is the JSON form of the record.
CREATE TABLE releases (
    target        TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    data          TEXT    NOT NULL,
    PRIMARY KEY (target, id)
);
CREATE TABLE runs (
    id            TEXT PRIMARY KEY NOT NULL,
    target        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    data          TEXT    NOT NULL
);
CREATE INDEX runs_created ON runs (created_at_ms);
