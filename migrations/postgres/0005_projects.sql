-- Workspace projects registered over the API; `spec` is the JSON form of workspace::Project.
CREATE TABLE projects (
    name          TEXT PRIMARY KEY NOT NULL,
    spec          TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
