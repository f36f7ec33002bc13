"""Self-update requests: created pending, processed in the background in resumable chunks."""

from __future__ import annotations

from uuid import UUID, uuid4

import msgspec

from application.ports import ExecutionIndex, TargetFinder
from application.write_path import UnitOfWork, WritePath
from domain.node import Node
from domain.node_status import NodeStatus
from domain.self_update import RequestStatus, SelfUpdateRequest
from domain.shared import DomainError, InvalidValueError
from domain.targeting import NodeFilters, Targeting

# Nodes triggered per transaction: bounded so one big request never holds the writer long.
CHUNK = 200


class CreateSelfUpdateRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Body of POST /self_update_requests."""

    targeting: Targeting


def eligible(targeting: Targeting) -> Targeting:
    """The seed's rule made explicit in the stored targeting: healthy nodes that allow it."""
    given = targeting.node_filters or NodeFilters()
    if given.status not in (None, NodeStatus.HEALTHY):
        raise InvalidValueError("self-updates only reach healthy nodes",
                                "targeting.node_filters.status")
    if given.self_update_enabled is False:
        raise InvalidValueError("self-updates only reach nodes with self_update_enabled",
                                "targeting.node_filters.self_update_enabled")
    merged = msgspec.structs.replace(given, status=NodeStatus.HEALTHY, self_update_enabled=True)
    return msgspec.structs.replace(targeting, node_filters=merged)


class SelfUpdates:
    """Application service for self-update requests."""

    def __init__(self, writes: WritePath, targets: TargetFinder, index: ExecutionIndex) -> None:
        self.writes = writes
        self.targets = targets
        self.index = index
        self.completed = 0  # requests this process brought to completion (metrics)

    def create(self, cmd: CreateSelfUpdateRequest) -> UUID:
        targeting = eligible(cmd.targeting.checked())
        request_id = uuid4()

        def decide(uow: UnitOfWork) -> None:
            uow.add(SelfUpdateRequest(id=request_id, targeting=targeting.as_dict(), at=uow.now))

        self.writes.run(decide)
        return request_id

    def delete(self, request_id: UUID) -> None:
        def decide(uow: UnitOfWork) -> None:
            uow.get(SelfUpdateRequest, request_id, "self-update request").delete(uow.now)

        self.writes.run(decide)

    def process_next(self) -> bool:
        """Advances the oldest unfinished request by one chunk; False when none is left."""
        waiting = self.index.unfinished_update_requests(1)
        if not waiting:
            return False
        request_id = waiting[0]

        def start(uow: UnitOfWork) -> SelfUpdateRequest:
            request = uow.get(SelfUpdateRequest, request_id, "self-update request")
            if request.status == RequestStatus.PENDING.value:
                stored = Targeting.from_dict(request.targeting)
                request.start([t.node_id for t in self.targets.resolve(stored)], uow.now)
                request.record([], [], uow.now)  # no target at all: completed at once
            return request

        request = self.writes.run(start)
        chunk = request.remaining()[:CHUNK]
        if chunk:
            request = self.writes.run(lambda uow: self._trigger(uow, request_id, chunk))
        if request.status == RequestStatus.COMPLETED.value:
            self.completed += 1
        return True

    @staticmethod
    def _trigger(uow: UnitOfWork, request_id: UUID, node_ids: list[UUID]) -> SelfUpdateRequest:
        request = uow.get(SelfUpdateRequest, request_id, "self-update request")
        triggered, failed = [], []
        for node_id in node_ids:
            node = uow.find(Node, node_id)
            try:
                if node is None:
                    raise InvalidValueError("node not found")
                node.trigger_update(request_id, uow.now)
                triggered.append(node_id)
            except DomainError:
                # Deleted, no longer healthy, or self-update switched off since resolution.
                failed.append(node_id)
        request.record(triggered, failed, uow.now)
        uow.ring(triggered)
        return request
