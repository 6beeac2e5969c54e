-- Managed services registered over the API; `spec` is the JSON form of ServiceSpec.
CREATE TABLE services (
    name          TEXT PRIMARY KEY NOT NULL,
    spec          TEXT   NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
