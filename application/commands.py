"""Admin side of commands: create (resolve targets once), delete, cancel and delete executions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from uuid import UUID, uuid4

import msgspec
from msgspec import Meta

from application.ports import Target, TargetFinder
from application.write_path import Decision, UnitOfWork, WritePath
from domain.command import Command, execution_id
from domain.command_execution import CancelOutcome, CommandExecution
from domain.shared import as_utc
from domain.targeting import Targeting, TargetType

CommandText = Annotated[str, Meta(min_length=1, max_length=65_536)]


class CreateCommand(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /commands. `timeout` is checked by the domain (the seed's own message)."""

    command_text: CommandText
    targeting: Targeting
    # Documented, as the seed does; enforced by the domain.
    timeout: Annotated[int, Meta(extra_json_schema={"minimum": 1})] | None = None
    expired_at: datetime | None = None


class Commands:
    """Application service for commands and their executions (operator side)."""

    def __init__(self, writes: WritePath, targets: TargetFinder) -> None:
        self.writes = writes
        self.targets = targets

    def create(self, cmd: CreateCommand) -> UUID:
        order = _Order.checked(cmd, self.writes.clock.now())
        self.writes.run(order.decide(self.targets.resolve(order.targeting)))
        return order.command_id

    async def create_async(self, cmd: CreateCommand) -> UUID:
        """`create` on the event loop (the HTTP route's way)."""
        order = _Order.checked(cmd, self.writes.clock.now())
        await self.writes.run_async(order.decide(await self.targets.resolve_async(order.targeting)))
        return order.command_id

    def delete(self, command_id: UUID) -> None:
        """Deletes a command and every execution; 409 while any execution is still open."""

        def decide(uow: UnitOfWork) -> None:
            command = uow.get(Command, command_id, "command")
            for exec_id in command.execution_ids():
                execution = uow.find(CommandExecution, exec_id)
                if execution is not None:
                    execution.prune(uow.now)
            command.delete(uow.now)

        self.writes.run(decide)

    def cancel_execution(self, exec_id: UUID) -> CancelOutcome:
        def decide(uow: UnitOfWork) -> CancelOutcome:
            execution = uow.get(CommandExecution, exec_id, "command execution")
            outcome = execution.cancel(uow.now)
            uow.ring([execution.node_id])
            return outcome

        return self.writes.run(decide)

    def delete_execution(self, exec_id: UUID) -> None:
        def decide(uow: UnitOfWork) -> None:
            uow.get(CommandExecution, exec_id, "command execution").prune(uow.now)

        self.writes.run(decide)


@dataclass(frozen=True)
class _Order:
    """A checked CreateCommand: what its decision needs once its targets are known."""

    cmd: CreateCommand
    targeting: Targeting
    expired_at: datetime | None
    command_id: UUID

    @staticmethod
    def checked(cmd: CreateCommand, now: datetime) -> _Order:
        expired_at = as_utc(cmd.expired_at, "expired_at")
        Command.check(cmd.command_text, cmd.timeout, expired_at, now)
        return _Order(cmd, cmd.targeting.checked(), expired_at, uuid4())

    def decide(self, targets: list[Target]) -> Decision[UUID]:
        cmd, targeting, command_id = self.cmd, self.targeting, self.command_id

        def decide(uow: UnitOfWork) -> UUID:
            command = Command.issue(command_id, cmd.command_text, targeting.as_dict(),
                                    cmd.timeout, self.expired_at, [t.node_id for t in targets],
                                    uow.now)
            uow.add(command, *(
                CommandExecution(
                    id=execution_id(command_id, target.node_id), command_id=command_id,
                    node_id=target.node_id, cluster_name=targeting.single_cluster(),
                    target_all=targeting.type is TargetType.ALL,
                    command_text=command.command_text, timeout=command.timeout,
                    expired_at=command.expired_at, node_cluster_name=target.cluster_name,
                    at=uow.now,
                )
                for target in targets
            ))
            uow.ring(t.node_id for t in targets)
            return command_id

        return decide
