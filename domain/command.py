"""Commands: a shell script sent to the nodes its targeting resolved to, once, at creation."""

from __future__ import annotations

from dataclasses import field
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.shared import InvalidValueError, declared_by_fields, name_id

MAX_TIMEOUT = 2**63 - 1  # the read models store it as a signed 64-bit integer


def execution_id(command_id: UUID, node_id: UUID) -> UUID:
    """One execution per (command, node): the command alone can name all of its executions."""
    return name_id("command-execution", str(command_id), str(node_id))


@declared_by_fields
class Command(Aggregate):
    """Keeps the order as given and the node ids it resolved to (its executions' ids)."""

    id: UUID
    command_text: str
    targeting: dict[str, Any]
    timeout: int | None
    expired_at: datetime | None
    node_ids: list[UUID]
    at: datetime
    deleted: bool = field(default=False, init=False)

    @classmethod
    def issue(  # noqa: PLR0913
        cls,
        command_id: UUID,
        command_text: str,
        targeting: dict[str, Any],
        timeout: int | None,
        expired_at: datetime | None,
        node_ids: list[UUID],
        now: datetime,
    ) -> Command:
        cls.check(command_text, timeout, expired_at, now)
        return cls(id=command_id, command_text=command_text, targeting=targeting,
                   timeout=timeout, expired_at=expired_at, node_ids=list(node_ids), at=now)

    @staticmethod
    def check(
        command_text: str, timeout: int | None, expired_at: datetime | None, now: datetime
    ) -> None:
        """The creation rules, also checked before targets are resolved (that costs a query)."""
        if not command_text:
            raise InvalidValueError("can't be blank", "command_text")
        if timeout is not None and timeout < 1:
            raise InvalidValueError("must be greater than 0", "timeout")
        if timeout is not None and timeout > MAX_TIMEOUT:
            raise InvalidValueError(f"must be less than or equal to {MAX_TIMEOUT}", "timeout")
        if expired_at is not None and expired_at <= now:
            raise InvalidValueError("must be in the future", "expired_at")

    def execution_ids(self) -> list[UUID]:
        return [execution_id(self.id, node_id) for node_id in self.node_ids]

    def delete(self, now: datetime) -> None:
        self._deleted(at=now)

    @event("Deleted")
    def _deleted(self, at: datetime) -> None:
        self.deleted = True
