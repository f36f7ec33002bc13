"""Application read ports (targets, executions, SSH credentials) answered from the read model.

The questions themselves are the contexts' reads (projections/*_reads.py); these classes only
turn their records into the application's port types, which projections cannot import.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from uuid import UUID

from application.ports import ExecutionRef, StoredUsername, Target
from domain.targeting import Targeting
from projections.command_reads import CommandReads
from projections.command_tables import CommandExecutionRecord
from projections.ssh_reads import SshReads
from projections.targets import resolve, resolve_async
from projections.view import TableView


class ViewTargetFinder:
    """TargetFinder: targeting resolved against the nodes and clusters tables."""

    def __init__(self, view: TableView) -> None:
        self.view = view

    def resolve(self, targeting: Targeting) -> list[Target]:
        return [Target(r.node_id, r.cluster_name) for r in resolve(self.view, targeting)]

    async def resolve_async(self, targeting: Targeting) -> list[Target]:
        if not self.view.reads_async:  # the whole plan in one worker thread, not a hop a step
            return await asyncio.to_thread(self.resolve, targeting)
        return [Target(r.node_id, r.cluster_name)
                for r in await resolve_async(self.view, targeting)]


class ViewExecutionIndex:
    """ExecutionIndex: open executions and unfinished requests, oldest first."""

    def __init__(self, reads: CommandReads) -> None:
        self.reads = reads

    def open_for_node(self, node_id: UUID, limit: int) -> list[ExecutionRef]:
        return _refs(self.reads.open_for_node(node_id, limit))

    async def open_for_node_async(self, node_id: UUID, limit: int) -> list[ExecutionRef]:
        return _refs(await self.reads.open_for_node_async(node_id, limit))

    def due(self, now: datetime, limit: int) -> list[UUID]:
        return self.reads.due(now, limit)

    def orphaned(self, limit: int) -> list[UUID]:
        return self.reads.orphaned(limit)

    def on_unreachable_nodes(self, seen_before: datetime, limit: int) -> list[UUID]:
        return self.reads.on_unreachable_nodes(seen_before, limit)

    def finished_before(self, cutoff: datetime, limit: int) -> list[UUID]:
        return self.reads.finished_before(cutoff, limit)

    def unfinished_update_requests(self, limit: int) -> list[UUID]:
        return self.reads.unfinished_update_requests(limit)


class ViewSshCredentials:
    """SshCredentials from the fleet read model (what the API shows is what logins see)."""

    def __init__(self, reads: SshReads) -> None:
        self.reads = reads

    def username(self, node_id: UUID, username: str) -> StoredUsername | None:
        found = self.reads.username_on(node_id, username)
        return StoredUsername(found.id, found.password_hash) if found else None

    def has_key(self, ssh_username_id: UUID, fingerprint: str) -> bool:
        return self.reads.has_key(ssh_username_id, fingerprint)


def _refs(records: list[CommandExecutionRecord]) -> list[ExecutionRef]:
    return [ExecutionRef(r.id, r.status, r.cancel_requested, r.sent_at) for r in records]
