"""Runtime controls of resources (Appaloft's POST /resources/{id}/runtime/stop|start|restart):
the serving deployment's container is stopped and kept, started again, or both, by its node's
agent, without a new deployment attempt (domain/runtime_control.py has the rules).

The decision is a Resource event (accepted, or blocked with its reason); a locked environment
refuses it like every change. The agent learns what to do from its work poll: the admin compares
what each ready container should be (the `resource_runtimes` rows) with what the agent says it
is (`stopped` in the poll), asks for the difference, and records a phase done when the two
agree. The deployment ending while a control runs fails the control (resources.settle_attempt).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from application.environments import live_environment
from application.ports import DeploymentFinder, DeploymentRef, DeploymentRuntime
from application.write_path import UnitOfWork, WritePath
from domain.deployment import Deployment, Status, deployment_uuid
from domain.resource import Resource

Observation = tuple[UUID, UUID, str]  # resource id, control attempt id, "running" | "stopped"


def current_runtime(uow: UnitOfWork, resource: Resource) -> Deployment | None:
    """The resource's serving deployment while its container is there to control: ready on
    its node, no stop asked."""
    if resource.serving_deployment is None:
        return None
    serving = uow.find(Deployment, resource.serving_deployment)
    if (serving is None or serving.status != Status.READY.value or serving.stopping
            or serving.stop_pending):
        return None
    return serving


class RuntimeControls:
    """Application service for runtime stop, start and restart."""

    def __init__(self, writes: WritePath, finder: DeploymentFinder) -> None:
        self.writes, self.finder = writes, finder

    def request(self, resource_id: UUID, operation: str) -> UUID:
        """The attempt's id (accepted or blocked: its row says which)."""
        def decide(uow: UnitOfWork) -> UUID:
            resource = uow.get(Resource, resource_id, f"resource {resource_id}")
            resource.check_live()
            live_environment(uow, resource.environment_id).check_mutable()
            serving = current_runtime(uow, resource)
            attempt_id = uuid4()
            reason = resource.request_runtime_control(
                attempt_id, operation, None if serving is None else serving.id, uow.now)
            if serving is not None and not reason:
                uow.ring([serving.node_id])
            return attempt_id

        return self.writes.run(decide)

    def work_for(self, live: Sequence[DeploymentRef], held: Sequence[str],
                 stopped: Sequence[str]) -> dict[str, list[str]]:
        """The node's ready containers to pause and to resume now, from its `live`
        deployments as its work poll read them. The phases the agent's word completes are
        recorded first, so a restart's start is asked in the same answer."""
        ready = _ready(live, held)
        pause, resume, seen = _compare(ready, stopped, self._runtimes(ready))
        if seen:
            self.observe(seen)
            pause, resume, seen = _compare(ready, stopped, self._runtimes(ready))
        return {"pause_deployments": pause, "resume_deployments": resume}

    async def work_without_phases_async(self, live: Sequence[DeploymentRef],
                                        held: Sequence[str], stopped: Sequence[str]
                                        ) -> dict[str, list[str]] | None:
        """`work_for` read on the event loop, or None where the agent's word completes a phase
        (recording it writes: the caller asks `work_for` in a thread instead)."""
        ready = _ready(live, held)
        runtimes = await self.finder.runtimes_of_async(_ids(ready)) if ready else {}
        pause, resume, seen = _compare(ready, stopped, runtimes)
        if seen:
            return None
        return {"pause_deployments": pause, "resume_deployments": resume}

    def _runtimes(self, ready: list[DeploymentRef]) -> dict[UUID, DeploymentRuntime]:
        return self.finder.runtimes_of(_ids(ready)) if ready else {}

    def expire_overdue(self, deadline: float, admin_started: datetime | None,
                       limit: int = 100) -> int:
        """Fails the controls no agent carried out within `deadline` seconds (errorCode
        runtime-control-timeout); none while this admin has been up for less (its agents may
        not have polled it yet). Returns how many it failed."""
        now = self.writes.clock.now()
        cutoff = now - timedelta(seconds=deadline)
        if admin_started is None or admin_started > cutoff:
            return 0
        overdue = self.finder.runtime_controls_before(cutoff, limit)
        if not overdue:
            return 0

        def decide(uow: UnitOfWork) -> int:
            failed = 0
            for resource_id, attempt_id in overdue:
                resource = uow.find(Resource, resource_id)
                if resource is not None and not resource.deleted:
                    failed += resource.expire_runtime_control(attempt_id, uow.now)
            return failed

        return self.writes.run(decide)

    def observe(self, observations: Sequence[Observation]) -> None:
        def decide(uow: UnitOfWork) -> None:
            for resource_id, attempt_id, observed in observations:
                resource = uow.find(Resource, resource_id)
                if resource is not None and not resource.deleted:
                    resource.observe_runtime(attempt_id, observed, uow.now)

        self.writes.run(decide)


def _ready(live: Sequence[DeploymentRef], held: Sequence[str]) -> list[DeploymentRef]:
    """The containers a control can act on: ready, no stop asked, held by the agent."""
    holding = set(held)
    return [row for row in live if row.status == Status.READY.value and not row.stopping
            and row.request_id in holding]


def _ids(ready: list[DeploymentRef]) -> list[UUID]:
    return [deployment_uuid(r.request_id) for r in ready]


def _compare(ready: list[DeploymentRef], stopped: Sequence[str],
             runtimes: dict[UUID, DeploymentRuntime]
             ) -> tuple[list[str], list[str], list[Observation]]:
    """(to pause, to resume, phases the agent's word completes) for its ready containers."""
    paused = set(stopped)
    pause, resume, seen = [], [], []
    for row in ready:
        request_id = row.request_id
        runtime = runtimes.get(deployment_uuid(request_id))
        wanted = "running" if runtime is None else runtime.desired
        is_stopped = request_id in paused
        if wanted == "stopped" and not is_stopped:
            pause.append(request_id)
        elif wanted == "running" and is_stopped:
            resume.append(request_id)
        elif runtime is not None and runtime.attempt_id is not None:
            seen.append((runtime.resource_id, runtime.attempt_id,
                         "stopped" if is_stopped else "running"))
    return pause, resume, seen
