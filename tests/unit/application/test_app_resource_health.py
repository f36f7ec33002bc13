"""ResourceHealth.record_async keeps an observation only for a resource's deployment, from the node
it is placed on; each keeps the resource's bound (in-memory view)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any
from uuid import UUID

import pytest

from adapters.memory_views import MemoryTableView
from adapters.resource_health import ViewHealthObservations
from adapters.work_doorbell import WorkDoorbell
from application.agent_protocol import HealthObservation
from application.errors import NotFoundError
from application.ports import DeploymentRef
from application.resource_health import ResourceHealth
from domain.deployment import Status
from projections.fleet_tables import FLEET_TABLES
from projections.resource_health_reads import ResourceHealthReads
from tests.fakes import FixedClock

NODE, RESOURCE = uuid.uuid4(), uuid.uuid4()
SEEN = HealthObservation(kind="change", lifecycle="running", health="unhealthy",
                         message="GET / answered 503 (expected 200)", status_code=503)


class Rows:
    """DeploymentFinder over a dict of deployments (only `one_async` is used)."""

    def __init__(self, rows: dict[str, DeploymentRef]) -> None:
        self.rows = rows

    async def one_async(self, request_id: str) -> DeploymentRef | None:
        return self.rows.get(request_id)


def deployment(spec: dict[str, Any], node: UUID = NODE) -> DeploymentRef:
    return DeploymentRef(request_id="", id=uuid.uuid4(), status=Status.READY.value,
                         node_id=node, spec=json.dumps(spec))


@pytest.fixture
def view() -> MemoryTableView:
    return MemoryTableView(FLEET_TABLES)


def service(view: MemoryTableView, rows: dict[str, DeploymentRef]) -> ResourceHealth:
    return ResourceHealth(ViewHealthObservations(view), Rows(rows),  # type: ignore[arg-type]
                          WorkDoorbell(), FixedClock())


def test_only_a_resources_deployment_is_kept_and_only_from_its_node(
        view: MemoryTableView) -> None:
    mine = deployment({"resource": {"resource_id": str(RESOURCE)}})
    rows = {"aaaaaaaaaaaa": mine, "bbbbbbbbbbbb": deployment({"app": "game"}),
            "cccccccccccc": deployment({"resource": {"resource_id": "not a uuid"}})}
    health = service(view, rows)

    def record(node: UUID, request_id: str) -> bool:
        return asyncio.run(health.record_async(node, request_id, SEEN))

    assert record(NODE, "aaaaaaaaaaaa") is True
    assert record(NODE, "bbbbbbbbbbbb") is False
    assert record(NODE, "cccccccccccc") is False
    for node, request_id in ((uuid.uuid4(), "aaaaaaaaaaaa"), (NODE, "dddddddddddd"),
                             (NODE, "../../etc")):
        with pytest.raises(NotFoundError):
            record(node, request_id)
    latest = ResourceHealthReads(view).latest_of(mine.id)
    assert latest is not None
    assert (latest.resource_id, latest.overall, latest.status_code, latest.message) == (
        RESOURCE, "unhealthy", 503, SEEN.message)
