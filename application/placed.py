"""An agent reports only on the deployments placed on its own node: telemetry, runtime logs,
health observations. The deployment a report names, or a 404 that does not say whether it
exists elsewhere."""

from __future__ import annotations

from uuid import UUID

from application.errors import NotFoundError
from application.ports import DeploymentFinder, DeploymentRef
from domain.deployment import REQUEST_ID


def placed_on(finder: DeploymentFinder, node_id: UUID, request_id: str) -> DeploymentRef:
    return _checked(finder.one(request_id) if REQUEST_ID.match(request_id) else None,
                    node_id, request_id)


async def placed_on_async(finder: DeploymentFinder, node_id: UUID, request_id: str
                          ) -> DeploymentRef:
    return _checked(await finder.one_async(request_id) if REQUEST_ID.match(request_id)
                    else None, node_id, request_id)


def _checked(row: DeploymentRef | None, node_id: UUID, request_id: str) -> DeploymentRef:
    if row is None or row.node_id != node_id:
        raise NotFoundError(f"deployment {request_id} not found")
    return row
