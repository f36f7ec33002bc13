"""Read models carry a version; a release that changes them rebuilds them from the log at start.

Read-model tables are derived data: when a release changes a table's columns, or what a handler
writes for events already recorded (a handler fix), the old rows are wrong for the new code. No
migration is written for them: the owned tables are dropped, created anew and the projection
replays the whole log into them. Tables that do not come from events (`owned=False`: liveness,
check-ins, telemetry, the projection's own status) are kept.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from projections.model import Column, Kind, Table

META = Table(
    "read_model_meta", "name",
    tuple(Column(n, k) for n, k in (
        ("name", Kind.TEXT), ("version", Kind.INT), ("fingerprint", Kind.TEXT),
        ("built_at", Kind.TIME),
    )),
    owned=False,
)
# What a database built by a release before read models had versions counts as.
UNVERSIONED = 1


def fingerprint(tables: tuple[Table, ...]) -> str:
    """Changes whenever an owned table's shape does (a test pins it beside the version)."""
    shape = [(t.name, t.key, [(c.name, c.kind.value) for c in t.columns], list(t.indexes))
             for t in tables if t.owned]
    return hashlib.sha256(repr(shape).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ReadModelVersion:
    name: str
    version: int
    fingerprint: str


class Action(StrEnum):
    KEEP = "keep"  # built by this version: go on from the tracking position
    RECORD = "record"  # a new database: nothing to rebuild, remember the version
    REBUILD = "rebuild"  # built by an older version: drop, create, replay from the start


class ReadModelTooNewError(Exception):
    """The read models were built by a newer release; rebuilding them here would undo it."""


class ReadModelBusyError(Exception):
    """The read models must be rebuilt, but another process projects into them (an admin of
    the earlier release still running, or still stopping): dropping them under it would let
    it record its position past events the rebuild has not applied yet, and the rebuild would
    skip them all."""


def refuse_newer(ours: ReadModelVersion, stored_version: int | None) -> int:
    """The stored version (UNVERSIONED for none), unless a newer release wrote it."""
    version = stored_version or UNVERSIONED
    if version > ours.version:
        raise ReadModelTooNewError(
            f"the read models were built by a newer release (read-model version {version}; "
            f"this release has {ours.version}): run that release or a later one (README: "
            f"Downgrades)")
    return version


def decide(ours: ReadModelVersion, stored: dict[str, Any] | None, projected: bool) -> Action:
    """stored: the meta row (None if there is none); projected: tracking rows exist."""
    if stored is None:
        return Action.REBUILD if projected else Action.RECORD
    version = refuse_newer(ours, stored["version"])
    if version < ours.version or stored["fingerprint"] != ours.fingerprint:
        return Action.REBUILD
    return Action.KEEP
