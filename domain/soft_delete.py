"""The soft-delete rule several aggregates share: once deleted, an aggregate refuses every command
(deleting it again included) as if it had never existed, with its own GoneError (404).

The mixin holds the rule only. Each aggregate keeps its own `@event("Deleted") def _deleted`:
eventsourcing names an event class after the aggregate class that declares it, and that topic
(`domain.alias:Alias.Deleted`) is stored with every event, so the event cannot move here
(tests/unit/domain/test_event_topics.py pins every topic).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from domain.shared import GoneError


class SoftDeletable:
    """Mixed into an Aggregate whose `deleted` is False when created."""

    if TYPE_CHECKING:  # provided by the aggregate; declared here for the type checker only
        deleted: bool

        def _deleted(self, at: datetime) -> None: ...

    def gone(self) -> GoneError:
        """The error a command against the deleted aggregate raises (its message names it)."""
        raise NotImplementedError

    def check_live(self) -> None:
        if self.deleted:
            raise self.gone()

    def check_deletable(self) -> None:
        """Rules beyond liveness that forbid a delete (a cluster with nodes); none by default."""

    def delete(self, at: datetime) -> None:
        self.check_live()
        self.check_deletable()
        self._deleted(at=at)
