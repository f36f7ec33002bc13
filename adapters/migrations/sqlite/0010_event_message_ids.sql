-- Catalog message id -> key (originator, version) of each public event
-- (adapters/event_message_ids.py), so GET /audit-events/{id} finds one by an index instead of
-- hashing every public event. Saves
-- record their own events' ids from this release on; the events saved before it are filled in
-- by the first start (a chunk of positions per transaction, resumed where a stopped start got
-- to), up to the log's end as that start found it: event_message_ids_fill keeps where.
CREATE TABLE IF NOT EXISTS event_message_ids (message_id TEXT PRIMARY KEY, originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_message_ids_fill (through INTEGER NOT NULL, until INTEGER NOT NULL);
