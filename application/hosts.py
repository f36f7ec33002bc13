"""Hosts: the placement profile of a node (location, capacity, private fleet), set by the
operator over the API or reported by the node's agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from application.agent_protocol import AgentHostReport, Location, Units
from application.ports import DeploymentFinder, NodeReports
from application.write_path import UnitOfWork, WritePath
from domain.host import Host, Profile, changed_profile, host_uuid
from domain.node import Node


class UpdateHost(msgspec.Struct, forbid_unknown_fields=True):
    """Body of PATCH /api/v1/nodes/{id}/host; omitted fields stay as they are."""

    location: Location | UnsetType = UNSET
    cpu_units: Units | UnsetType = UNSET  # 1024 units = 1 vCPU
    memory_mb: Units | UnsetType = UNSET
    fleet: Annotated[str, Meta(max_length=63)] | UnsetType | None = UNSET


def changes_of(cmd: UpdateHost) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if cmd.location is not UNSET:
        changes["location"] = msgspec.to_builtins(cmd.location)
    for name in ("cpu_units", "memory_mb", "fleet"):
        value = getattr(cmd, name)
        if value is not UNSET:
            changes[name] = value
    return changes


class Hosts:
    """Application service for host profiles."""

    def __init__(self, writes: WritePath, reports: NodeReports,
                 finder: DeploymentFinder) -> None:
        self.writes, self.reports, self.finder = writes, reports, finder

    def update(self, node_id: Any, cmd: UpdateHost) -> None:
        changes = changes_of(cmd)
        self._apply(node_id, lambda host: changes)

    def report(self, node_id: Any, report: AgentHostReport) -> None:
        """The agent's view: its flags win; what it detected fills only what is unset. The
        images it holds are noted on the read side (no event: they change at every pull)."""
        self._apply(node_id, lambda host: agent_changes(
            report, None if host is None else host.current_profile()))
        self.reports.images(node_id, report.images)

    async def report_unchanged_async(self, node_id: UUID, report: AgentHostReport) -> bool:
        """Notes the images of a report that changes nothing, on the event loop: agents repeat
        their profile every 15 s, and deciding each through the write path cost three
        heartbeats. Unchanged means as the read model shows the host; one lagging behind an
        edit made elsewhere delays the agent's word by one report, never loses it. False when
        there is something to decide (or no host yet): the caller then runs `report`. A report
        the host would refuse raises as `report` does."""
        current = await self.finder.host_profile_async(node_id)
        if current is None or changed_profile(current, agent_changes(report, current)) != current:
            return False
        await self.reports.images_async(node_id, report.images)
        return True

    def _apply(self, node_id: Any, changes_for: Callable[[Host | None], dict[str, Any]]) -> None:
        def decide(uow: UnitOfWork) -> None:
            uow.get(Node, node_id, f"node {node_id}")
            host = uow.find(Host, host_uuid(node_id))
            changes = changes_for(host)
            if host is None:
                uow.add(Host.profile(node_id, changes.get("location", {}),
                                     changes.get("cpu_units", 0), changes.get("memory_mb", 0),
                                     changes.get("fleet"), uow.now))
            else:
                host.update(changes, uow.now)

        self.writes.run(decide)


def agent_changes(report: AgentHostReport, host: Profile | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if report.location is not None:
        changes["location"] = msgspec.to_builtins(report.location)
    if report.fleet is not None:
        changes["fleet"] = report.fleet
    unset = host is None or host.cpu_units == 0
    cpu = report.cpu_units if report.cpu_units is not None else (
        report.detected_cpu_units if unset else None)
    memory = report.memory_mb if report.memory_mb is not None else (
        report.detected_memory_mb if host is None or host.memory_mb == 0 else None)
    if cpu is not None:
        changes["cpu_units"] = cpu
    if memory is not None:
        changes["memory_mb"] = memory
    return changes
