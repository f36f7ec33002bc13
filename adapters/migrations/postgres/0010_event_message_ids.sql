-- Catalog message id -> position of each public event (adapters/event_message_ids.py), so
-- GET /audit-events/{id} finds one by an index instead of hashing every public event. The
-- relay records the ids of what it publishes with its position, in one transaction (never a
-- save: the write path pays nothing); the events saved before this table are filled in by the
-- first start (a chunk of positions per transaction, resumed where a stopped start got to), up
-- to the log's end as that start found it: event_message_ids_fill keeps where.
CREATE TABLE IF NOT EXISTS event_message_ids (message_id uuid PRIMARY KEY, position bigint NOT NULL);
CREATE TABLE IF NOT EXISTS event_message_ids_fill (through bigint NOT NULL, until bigint NOT NULL);
