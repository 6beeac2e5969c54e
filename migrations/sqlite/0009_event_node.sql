-- The att node that wrote each event (its id from `<data_dir>/node-id`); NULL for events
-- written before nodes existed.
ALTER TABLE events ADD COLUMN node TEXT;
