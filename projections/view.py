"""The abstract read-model view: tables, tracked change batches, and list queries."""

from __future__ import annotations

import asyncio
from abc import abstractmethod
from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

import msgspec
from eventsourcing.persistence import Tracking, TrackingRecorder

from projections.change_order import in_rounds, same_value
from projections.model import FOUND, Change, Table, Upsert, UpsertMax
from projections.query import ListQuery, Page
from projections.versioning import META, Action, ReadModelVersion

Batch = Sequence[tuple[Sequence[Change], Tracking]]
T = TypeVar("T")


class Reads(Protocol):
    """What a locked decision (`TableView.apply_locked`) reads its rows with."""

    def get(self, table: str, key: Any) -> dict[str, Any] | None: ...

    def query(self, table: str, query: ListQuery) -> Page: ...


Decide = Callable[[Reads], tuple[Sequence[Change], T]]


class TableView(TrackingRecorder):
    """A tracking recorder that also stores read-model tables; one class per persistence kind."""

    tables: tuple[Table, ...] = ()
    # Whether query_async and select_async read on the event loop itself; where they do not,
    # they read through the sync methods in a worker thread (a store with no async driver).
    reads_async: bool = False

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    @abstractmethod
    def apply(self, batch: Batch) -> None:
        """Applies every change and records every tracking position in one transaction."""

    def apply_bulk(self, batch: Batch) -> None:
        """As `apply`, with the batch's changes reordered and folded (projections.change_order):
        the same end state, written as few statements as a store can (a replay's large pages)."""
        if not batch:
            return
        changes = [c for group in self.in_rounds(batch) for c in group]
        self.apply([(changes, batch[0][1]), *(([], tracking) for _, tracking in batch[1:])])

    def in_rounds(self, batch: Batch) -> list[list[Change]]:
        by_name = {t.name: t for t in self.tables}
        return in_rounds((c for changes, _ in batch for c in changes), by_name.__getitem__,
                         self.row_identity)

    def row_identity(self, table: Table, value: Any) -> Hashable | None:
        """How a key value names its row here (None: unsure; the change is then a barrier)."""
        return same_value(table, value)

    @abstractmethod
    def apply_untracked(self, changes: Sequence[Change]) -> None:
        """Applies changes that do not come from events (heartbeats)."""

    @abstractmethod
    def apply_locked(self, lock: str, decide: Decide[T]) -> T:
        """A read-modify-write of untracked rows (telemetry: tables no projection owns):
        `decide` reads through what it is given and answers the changes to apply and what to
        return; no other `apply_locked` of the same `lock`, in this process or another on the
        same store, runs between its reads and its writes' commit. (A read then an
        `apply_untracked` is not one: two admins numbering one deployment's lines at once
        gave both batches the same numbers, and the later overwrote the earlier.)"""

    @abstractmethod
    def query(self, table: str, query: ListQuery) -> Page:
        """Filters, orders and pages a table (joins included)."""

    @abstractmethod
    def select(self, table: str, where: dict[str, Any], limit: int = 1000) -> list[dict[str, Any]]:
        """Rows whose columns equal `where`, in key order."""

    async def apply_untracked_async(self, changes: Sequence[Change]) -> None:
        """As `apply_untracked`, awaited on the event loop: written there where the view reads
        there (`reads_async`), else in a worker thread."""
        await asyncio.to_thread(self.apply_untracked, changes)

    async def query_async(self, table: str, query: ListQuery) -> Page:
        """As `query`, awaited on the event loop: read there where the view `reads_async`,
        else in a worker thread."""
        return await asyncio.to_thread(self.query, table, query)

    async def select_async(self, table: str, where: dict[str, Any], limit: int = 1000
                           ) -> list[dict[str, Any]]:
        """As `select`, awaited on the event loop (as `query_async`)."""
        return await asyncio.to_thread(self.select, table, where, limit)

    async def select_touching_async(self, table: str, where: dict[str, Any],
                                    touch: Upsert | UpsertMax) -> dict[str, Any] | None:
        """The first row whose columns equal `where` (as `select_async`), and, if there is
        one, `touch` applied untracked with FOUND in its row standing for that row's key: in
        one statement where the view can (PostgreSQL), else a read and a write. The row is
        as it was before the touch."""
        rows = await self.select_async(table, where, 1)
        if not rows:
            return None
        key = rows[0][self.table(table).key]
        row = {c: key if v is FOUND else v for c, v in touch.row.items()}
        await self.apply_untracked_async([msgspec.structs.replace(touch, row=row)])
        return rows[0]

    @abstractmethod
    def prepare(self, application_name: str, ours: ReadModelVersion,
                may_rebuild: Callable[[], bool] | None = None) -> Action:
        """Before projecting: rebuilds the owned tables (empty, tracking forgotten) when an
        older release built them; records the version otherwise. A rebuild needs
        `may_rebuild()` (this process may project: no other does), else ReadModelBusyError."""

    @abstractmethod
    def reset(self, application_name: str) -> None:
        """Empties the owned tables and forgets the tracking position (before a replay)."""

    def get(self, table: str, key: Any) -> dict[str, Any] | None:
        rows = self.select(table, {self.table(table).key: key}, limit=1)
        return rows[0] if rows else None


def version_row(ours: ReadModelVersion) -> Upsert:
    return Upsert(META.name, {"name": ours.name, "version": ours.version,
                              "fingerprint": ours.fingerprint, "built_at": datetime.now(UTC)})
