-- Test runs of workspace projects; `data` is the JSON form of the run record.
CREATE TABLE test_runs (
    id            TEXT PRIMARY KEY NOT NULL,
    project       TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    data          TEXT    NOT NULL
);
CREATE INDEX test_runs_project ON test_runs (project, created_at_ms);
