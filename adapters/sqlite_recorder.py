"""The event store's SQLite recorder: eventsourcing's, recording with each save the catalog
message ids of its public events (adapters/event_message_ids.py), in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from adapters.event_message_ids import sqlite_record_ids, table_statements


class MessageIdRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *table_statements(postgres=False)]

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        sqlite_record_ids(c, ((e.originator_id, e.originator_version, e.topic)
                              for e in stored_events))
        return ids
