-- One open run per target across every att sharing this database: the row of a target is
-- taken in the transaction that stores a new run (a second run of the target finds it and is
-- refused) and deleted in the one that stores the run's end. `node` is the att that executes
-- the run ('' when unknown: a run left open by an att older than this table); `generation`
-- grows at each take-over, so that only one node can claim the run of a node that died.
CREATE TABLE target_locks (
    target      TEXT PRIMARY KEY NOT NULL,
    run_id      TEXT    NOT NULL,
    node        TEXT    NOT NULL,
    generation  INTEGER NOT NULL,
    taken_at_ms INTEGER NOT NULL
);
INSERT INTO target_locks (target, run_id, node, generation, taken_at_ms)
    SELECT target, id, '', 0, created_at_ms FROM runs WHERE status IN ('running', 'guarding')
    ON CONFLICT DO NOTHING;
-- A managed service registered over the API belongs to the node that registered it: only
-- that node runs it and its release runs ('': every node, as before nodes were named).
ALTER TABLE services ADD COLUMN node TEXT NOT NULL DEFAULT '';
