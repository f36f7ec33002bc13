"""DeploymentFinder: bulk-stop filters evaluated on the deployments read model, and the
deployments the scheduler may have to act on.

Each filter selects a set of request ids: `any` value matches, `all` values match (for tags:
the deployment has every tag), `not`: none matches. A deployment must pass every filter.
Questions of many rows read only the columns they need, each into a small struct.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec

from application.ports import DeploymentRef, DeploymentRuntime
from domain.deployment import Status
from domain.host import Profile
from domain.node_status import NodeStatus
from projections.deployment_tables import DeploymentRecord, DeploymentTagRecord, HostRecord
from projections.fleet_tables import NodeRecord
from projections.query import AnyOf, Cond, Filter, ListQuery, Order
from projections.records import Records
from projections.runtime_controls import RuntimeControlRecord, RuntimeRecord
from projections.view import TableView

PAGE = 5000
LIVE = AnyOf(tuple(Cond("status", "eq", s.value)
                   for s in (Status.DEPLOYING, Status.READY, Status.ERROR)))


class _Named(msgspec.Struct, frozen=True):
    request_id: str


class _Identified(msgspec.Struct, frozen=True):
    request_id: str
    id: UUID


class _Tagged(msgspec.Struct, frozen=True):
    deployment_id: UUID


class _Lasting(msgspec.Struct, frozen=True):
    request_id: str
    status: str
    start_time: datetime
    max_duration: int
    stopping: str | None = None


class _Placed(msgspec.Struct, frozen=True):
    request_id: str
    node_id: UUID | None = None


class _NodeStatus(msgspec.Struct, frozen=True):
    id: UUID
    status: str


class _Control(msgspec.Struct, frozen=True):
    id: UUID
    resource_id: UUID


class _RuntimeOf(msgspec.Struct, frozen=True):
    deployment_id: UUID
    resource_id: UUID
    desired: str
    attempt_id: UUID | None


def _one(request_id: str) -> ListQuery:
    return ListQuery((Cond("request_id", "eq", request_id),), page_size=1)


def _runtime_reads(deployment_ids: Sequence[UUID]) -> list[ListQuery]:
    """One read per RUNTIMES_PER_READ deployments: an OR of their ids."""
    ids = list(dict.fromkeys(deployment_ids))
    chunks = [ids[start:start + RUNTIMES_PER_READ]
              for start in range(0, len(ids), RUNTIMES_PER_READ)]
    return [ListQuery((AnyOf(tuple(Cond("deployment_id", "eq", d) for d in chunk)),),
                      page_size=len(chunk)) for chunk in chunks]


def _runtimes(rows: list[_RuntimeOf]) -> dict[UUID, DeploymentRuntime]:
    return {row.deployment_id: DeploymentRuntime(resource_id=row.resource_id,
                                                 desired=row.desired, attempt_id=row.attempt_id)
            for row in rows}


def _live_on(node_id: UUID) -> ListQuery:
    return ListQuery((Cond("node_id", "eq", node_id), LIVE), (Order("start_time"),),
                     page_size=1000)


RUNTIMES_PER_READ = 100  # ids in one statement's OR (a node holds a few dozen containers)


class ViewDeploymentFinder:
    """Answers from the deployments and deployment_tags tables."""

    def __init__(self, view: TableView) -> None:
        self.view = view
        self.deployments = Records(view, DeploymentRecord)
        self.tags = Records(view, DeploymentTagRecord)
        self.nodes = Records(view, NodeRecord)
        self.runtimes = Records(view, RuntimeRecord)
        self.controls = Records(view, RuntimeControlRecord)
        self.hosts = Records(view, HostRecord)

    def _request_ids(self, *filters: Filter) -> set[str]:
        return {r.request_id for r in self.deployments.every_narrow(_Named, *filters, size=PAGE)}

    def _with(self, field: str, value: str) -> set[str]:
        if field == "tags":
            ids = {r.deployment_id for r in self.tags.every_narrow(
                _Tagged, Cond("name", "eq", value), size=PAGE)}
            return {r.request_id for r in self.deployments.every_narrow(_Identified, size=PAGE)
                    if r.id in ids}
        typed: Any = value
        if field == "node_id":
            try:
                typed = UUID(value)
            except ValueError:
                return set()
        return self._request_ids(Cond(field, "eq", typed))

    def matching(self, filters: Sequence[Any]) -> list[str]:
        selected = self._request_ids()
        for f in filters:
            sets = [self._with(f.field, v) for v in f.values]
            if f.filter_type == "any":
                selected &= set().union(*sets)
            elif f.filter_type == "all":
                selected &= set[str].intersection(*sets)
            else:
                selected -= set().union(*sets)
        return sorted(selected)

    def overdue(self, now: datetime) -> list[str]:
        """READY deployments whose max_duration (minutes) has run out."""
        lasting = self.deployments.every_narrow(_Lasting, Cond("max_duration", "gt", 0),
                                                size=PAGE)
        return sorted(r.request_id for r in lasting
                      if r.status == Status.READY.value and not r.stopping
                      and r.start_time + timedelta(minutes=r.max_duration) <= now)

    def _deploying(self, filters: tuple[Cond, ...], limit: int) -> list[_Placed]:
        query = ListQuery((Cond("status", "eq", Status.DEPLOYING.value), *filters),
                          (Order("start_time"), Order("request_id")), page_size=limit)
        return self.deployments.narrow(_Placed, query)

    def deploying_before(self, cutoff: datetime, limit: int) -> list[str]:
        # Placed in the decision that requested it, so start_time is when it was placed.
        return [r.request_id for r in self._deploying((Cond("start_time", "le", cutoff),),
                                                       limit)]

    def deploying_on_lost_nodes(self, limit: int) -> list[str]:
        # From the deployments side: DEPLOYING is a passing state, so there are few, while
        # unreachable nodes pile up (dead machines nobody deleted).
        placed = self._deploying((), limit)
        nodes = sorted({r.node_id for r in placed if r.node_id is not None}, key=str)
        if not nodes:
            return []
        query = ListQuery((AnyOf(tuple(Cond("id", "eq", n) for n in nodes)),),
                          page_size=len(nodes))
        status: dict[UUID | None, str] = {
            r.id: r.status for r in self.nodes.narrow(_NodeStatus, query)}
        lost = (None, NodeStatus.UNREACHABLE.value)  # None: its row went with the node
        return [r.request_id for r in placed if status.get(r.node_id) in lost]

    def live_on(self, node_id: UUID) -> list[DeploymentRef]:
        return self.deployments.narrow(DeploymentRef, _live_on(node_id))

    async def live_on_async(self, node_id: UUID) -> list[DeploymentRef]:
        return await self.deployments.narrow_async(DeploymentRef, _live_on(node_id))

    def one(self, request_id: str) -> DeploymentRef | None:
        found = self.deployments.narrow(DeploymentRef, _one(request_id))
        return found[0] if found else None

    async def one_async(self, request_id: str) -> DeploymentRef | None:
        found = await self.deployments.narrow_async(DeploymentRef, _one(request_id))
        return found[0] if found else None

    async def host_profile_async(self, node_id: UUID) -> Profile | None:
        row = await self.hosts.get_async(node_id)
        if row is None:
            return None
        # The projection keeps the location as the event's dict in JSON (projections/
        # deployment_handlers.py): it reads back equal.
        return Profile(json.loads(row.location or "{}"), row.cpu_units, row.memory_mb, row.fleet)

    def runtimes_of(self, deployment_ids: Sequence[UUID]) -> dict[UUID, DeploymentRuntime]:
        return _runtimes([row for query in _runtime_reads(deployment_ids)
                          for row in self.runtimes.narrow(_RuntimeOf, query)])

    async def runtimes_of_async(self, deployment_ids: Sequence[UUID]
                                ) -> dict[UUID, DeploymentRuntime]:
        return _runtimes([row for query in _runtime_reads(deployment_ids)
                          for row in await self.runtimes.narrow_async(_RuntimeOf, query)])

    def runtime_controls_before(self, cutoff: datetime, limit: int) -> list[tuple[UUID, UUID]]:
        under_way = AnyOf((Cond("status", "eq", "accepted"), Cond("status", "eq", "running")))
        query = ListQuery((under_way, Cond("started_at", "lt", cutoff)),
                          (Order("started_at"),), page_size=limit)
        return [(r.resource_id, r.id) for r in self.controls.narrow(_Control, query)]
