"""What is known about a projection that cannot go on: which event stopped it, why, since when.

The projecting process keeps it in memory and records it in the `projection_failures` table, so
other processes (their writers, their readiness, `edge-admin projections status`) see it too.
The database's own trouble (away, restarting, a statement broken off: is_store_trouble) is not
such a failure: the projector waits it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError

from projections.model import Column, Kind, Table

FAILURES = Table(
    "projection_failures", "name",
    tuple(Column(n, k) for n, k in (
        ("name", Kind.TEXT), ("position", Kind.INT), ("notification_id", Kind.INT),
        ("event_type", Kind.TEXT), ("error", Kind.TEXT), ("since", Kind.TIME),
        ("attempts", Kind.INT),
    )),
    owned=False,
)
MAX_ERROR = 500  # characters of the error kept: enough to name it, never a wall of text


def describe_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


@dataclass(frozen=True)
class ProjectionFailure:
    """The projection applied everything up to `position`; event `notification_id` fails."""

    projection: str
    position: int
    notification_id: int
    event_type: str
    error: str
    since: float  # seconds since the epoch of the first failure at this event
    attempts: int

    def describe_event(self) -> str:
        kind = f" ({self.event_type})" if self.event_type else ""
        return f"event {self.notification_id}{kind}"

    def describe(self) -> str:
        return f"{self.describe_event()}: {self.error}"

    def since_iso(self) -> str:
        return datetime.fromtimestamp(self.since, UTC).isoformat(timespec="seconds")

    def to_row(self) -> dict[str, Any]:
        return {"name": self.projection, "position": self.position,
                "notification_id": self.notification_id, "event_type": self.event_type,
                "error": self.error, "since": datetime.fromtimestamp(self.since, UTC),
                "attempts": self.attempts}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ProjectionFailure:
        since = row["since"]
        return cls(projection=row["name"], position=row["position"] or 0,
                   notification_id=row["notification_id"] or 0,
                   event_type=row["event_type"] or "", error=row["error"] or "",
                   since=since.timestamp() if since is not None else 0.0,
                   attempts=row["attempts"] or 0)

    def as_dict(self) -> dict[str, Any]:
        return {"projection": self.projection, "position": self.position,
                "stuck_at": self.notification_id, "event_type": self.event_type,
                "error": self.error, "since": self.since_iso(), "attempts": self.attempts}


class ProjectionStuckError(Exception):
    """A write refused (or left unanswered) because the read model cannot apply an event."""

    def __init__(self, failure: ProjectionFailure) -> None:
        super().__init__(
            f"the read model is stuck at {failure.describe()}; writes are refused until a"
            f" release that can apply it is running (see /readyz)")
        self.failure = failure


class ReadModelBehindError(Exception):
    """A write refused while the read model is rebuilt after an upgrade, or catches up at
    start with a log it holds only part of: decided now, it would read a read model that lacks
    part of the log (a command to every node finds none, a deploy finds no host), so it is
    refused before it is decided, as when the read model is stuck."""

    def __init__(self, position: int, target: int) -> None:
        super().__init__(
            f"the read models are being rebuilt ({position} of {target} events); writes are "
            f"refused until they are in (see /readyz); retry")
        self.position, self.target = position, target


class StoreUnavailableError(Exception):
    """The database did not give a connection in time: it is away (restarting, unreachable) or
    every connection is busy. Nothing is wrong with any event; the caller may retry. Raised by
    the stores' adapters in place of their pool's timeout, so that the write path does not
    retry it (eventsourcing retries its own OperationalError ten times, a pool timeout each),
    the projection worker does not take it for an event it cannot apply, and HTTP answers 503
    instead of 500."""


# The database's trouble, not an event's or a request's: no connection in time
# (StoreUnavailableError), or a statement broken off after eventsourcing's own retries (a
# session ended by a restart or an administrator, a cancelled query, a lock not had in time, a
# full disk). A handler's bug is anything else, including the database refusing its values
# (IntegrityError, DataError). HTTP answers it 503; the projector waits it out. The classes
# catch it; is_store_trouble decides.
STORE_TROUBLE = (StoreUnavailableError, OperationalError, InterfaceError)
SQLITE_ERROR = 1  # sqlite3's code for an error in the statement itself: no such table, syntax


# What the database said was short, in our own words (a driver's message names hosts, files and
# databases): sqlite3's primary result codes, PostgreSQL's SQLSTATEs of class 53.
_SHORT_OF = {
    13: "its disk is full",  # SQLITE_FULL
    14: "its file cannot be opened: no file descriptor left, or no access",  # SQLITE_CANTOPEN
    "53100": "its disk is full",
    "53200": "it is out of memory",
    "53300": "it has no connection left (max_connections)",
}


def store_trouble_reason(exc: BaseException) -> str | None:
    """What the database is short of, when its error says: a full disk (SQLite and
    PostgreSQL), no file descriptor left, memory or connections. None for the rest (a restart,
    a session ended). Told apart, an operator reads why writes fail where they used to read
    only that the database 'broke the statement off'."""
    seen: BaseException | None = exc
    while seen is not None:
        code = getattr(seen, "sqlite_errorcode", None)
        if code is not None:
            return _SHORT_OF.get(code & 0xFF)
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str):
            return _SHORT_OF.get(state)
        seen = seen.__cause__ or seen.__context__
    return None


def is_store_trouble(exc: BaseException) -> bool:
    """Whether `exc` is the database's trouble rather than a bug. SQLite reports a statement it
    cannot run (no such table or column, bad syntax) as an OperationalError too, where
    PostgreSQL's is a ProgrammingError: that one is a bug, told by sqlite3's error code."""
    if not isinstance(exc, STORE_TROUBLE):
        return False
    return getattr(exc.__cause__, "sqlite_errorcode", None) != SQLITE_ERROR
