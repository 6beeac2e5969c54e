-- Test runs of workspace projects; `data` is the JSON form of the run record, `status` its
-- `running` / `completed` / `interrupted` / `error` (running ones are concluded at start-up).
CREATE TABLE test_runs (
    id            TEXT PRIMARY KEY NOT NULL,
    project       TEXT   NOT NULL,
    status        TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    data          TEXT   NOT NULL,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX test_runs_project ON test_runs (project, created_at_ms);
CREATE INDEX test_runs_status ON test_runs (status);
