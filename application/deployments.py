"""Deployments: place an application version near its users, stop it, follow what the agent
reports, tag it. Allocation happens on the Host aggregate in the same transaction as the
placement, so two deployments never take the same last room on a node, and only on a node
healthy at that moment. A placement no node ever starts ends in ERROR (start deadline, node
unreachable or deleted), giving its room back."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any
from uuid import UUID

import msgspec

from application.agent_protocol import DeploymentReport
from application.apps import reveal, sealed_env
from application.automatic_rollback import automatic_rollback
from application.deployment_inputs import DeploymentCreate, user_points
from application.deployment_work import StopsHandedOut, health_allowance, work_for
from application.errors import ForbiddenError, NotFoundError, SecretUnavailableError
from application.ports import (
    DeploymentFinder,
    DeploymentRef,
    DestinationGuard,
    GeoLocator,
    PlacementIndex,
    SecretBox,
    UnsealError,
)
from application.resources import settle_attempt
from application.unsealing import UnsealFailures
from application.write_path import UnitOfWork, WritePath
from domain.app import App, app_uuid
from domain.deployment import AlreadyTerminatedError, Deployment, Status, deployment_uuid
from domain.host import Host, HostFullError, host_uuid
from domain.node import Node
from domain.node_status import NodeStatus
from domain.placement import Candidate, Need, Point, fits, ranking
from domain.shared import InvalidValueError

NO_ROOM = "Couldn't Allocate Server"
LOST = "the container is gone from the node (removed while no agent watched it)"
PREFETCH = 2  # hosts loaded with the batch: the likely choice and the next, should it be full
BATCH = 500  # deployments given up per step of a scheduler pass
UNSEALABLE = "its secrets cannot be unsealed"


class _StaleSnapshotError(Exception):
    """No host fitted in a placement snapshot that can be refreshed: decide again on a fresh one
    before answering "Couldn't Allocate Server" (a stop may have just given room back)."""


class NoRoomError(InvalidValueError):
    """No host among those allowed has room, and the caller records nothing then."""


class InvalidAppVersionError(NotFoundError):
    """The seed's 400 "Invalid Application or Application Version"."""


@dataclass(frozen=True)
class Accepted:
    request_id: str
    placed: bool
    node_id: UUID | None
    hook_secret: str | None = None  # signs the webhook_on_* deliveries, when any were given


def new_request_id() -> str:
    return secrets.token_hex(6)  # 12 lowercase hex characters, as in every seed example


def _allocate(uow: UnitOfWork, ranked: list[Candidate], need: Need,
              request_id: str, *, snapshot_room: bool = True) -> Candidate | None:
    """The first ranked host that fits, allocated. The ranking comes from a snapshot that may be
    behind, so the room is checked again on the Host aggregate and the health on the Node
    aggregate, as they are now: a node marked unhealthy a moment ago is never chosen. Without
    `snapshot_room`, the snapshot's room is not even looked at (room given back in this very
    transaction is in no snapshot)."""
    for candidate in ranked:
        if snapshot_room and not fits(candidate, need):
            continue
        node_id = UUID(candidate.host_id)
        node = uow.find(Node, node_id)
        if node is None or node.deleted or node.status != NodeStatus.HEALTHY.value:
            continue
        host = uow.find(Host, host_uuid(node_id))
        if host is None:
            continue
        try:
            host.allocate(request_id, need.cpu_units, need.memory_mb, uow.now)
        except HostFullError:  # the snapshot was behind: try the next best
            continue
        uow.add(host)
        return candidate
    return None


class Deployments:
    """Application service for deployments."""

    def __init__(self, writes: WritePath, geo: GeoLocator, index: PlacementIndex,  # noqa: PLR0913
                 public_url: str, guard: DestinationGuard, box: SecretBox,
                 finder: DeploymentFinder, unsealing: UnsealFailures | None = None) -> None:
        self.writes, self.geo, self.index = writes, geo, index
        self.guard, self.box, self.finder = guard, box, finder
        self.unsealing = unsealing or UnsealFailures()
        self.public_url = public_url.rstrip("/")
        self.stops_handed = StopsHandedOut()  # this process's memory (deployment_work.py)

    def deploy(self, cmd: DeploymentCreate, preferred: tuple[str, ...] = ()) -> Accepted:
        users = user_points(cmd.users, self.geo)
        for kind in ("ready", "error", "terminated"):
            hook = getattr(cmd, f"webhook_on_{kind}")
            if hook is not None:
                try:
                    self.guard.check(hook.url)
                except InvalidValueError as exc:
                    raise InvalidValueError(exc.message, f"webhook_on_{kind}.url") from None
        request_id = new_request_id()
        return self._deploy(request_id, lambda uow: self._spec(uow, cmd, request_id), users,
                            bool(cmd.require_cached_locations), preferred,
                            reads=(app_uuid(cmd.application),))

    def deploy_spec(self, spec: dict[str, Any], users: list[Point],
                    hosts: Callable[[Candidate], bool] | None = None) -> Accepted:
        """A deployment described whole (Mengi's app hosting), placed among `hosts`; where
        none has room, NoRoomError and nothing is recorded (Mengi answers a validation error,
        not a deployment in error as Edgegap does)."""
        request_id = new_request_id()
        platform = self._platform(request_id)
        return self._deploy(request_id, lambda uow: {**platform, "tags": [], **spec}, users,
                            False, (), hosts, refuse_unplaced=True)

    def deploy_with(
        self, spec_for: Callable[[UnitOfWork, str], dict[str, Any]], users: list[Point],
        hosts: Callable[[Candidate], bool] | None = None, reads: tuple[UUID, ...] = (),
    ) -> Accepted:
        """A deployment whose spec is decided with the placement, in its transaction
        (a Resource's snapshot and its attempt bookkeeping), placed among `hosts`."""
        request_id = new_request_id()
        platform = self._platform(request_id)
        return self._deploy(
            request_id, lambda uow: {**platform, "tags": [], **spec_for(uow, request_id)},
            users, False, (), hosts, reads)

    def _deploy(  # noqa: PLR0913
        self, request_id: str, spec_for: Callable[[UnitOfWork], dict[str, Any]],
        users: list[Point], require_cached: bool, preferred: tuple[str, ...],
        hosts: Callable[[Candidate], bool] | None = None, reads: tuple[UUID, ...] = (),
        *, refuse_unplaced: bool = False,
    ) -> Accepted:
        try:
            accepted = self._place(request_id, spec_for, users, require_cached, preferred,
                                   hosts, reads, last_try=False, refuse=refuse_unplaced)
        except _StaleSnapshotError:  # room may have appeared since the snapshot: look again
            accepted = self._place(request_id, spec_for, users, require_cached, preferred,
                                   hosts, reads, last_try=True, refuse=refuse_unplaced)
        return accepted

    def _place(  # noqa: PLR0913
        self, request_id: str, spec_for: Callable[[UnitOfWork], dict[str, Any]],
        users: list[Point], require_cached: bool, preferred: tuple[str, ...],
        hosts: Callable[[Candidate], bool] | None, reads: tuple[UUID, ...], *, last_try: bool,
        refuse: bool = False,
    ) -> Accepted:
        # Ranked here, in the caller's thread: the decision below runs in the group commit's
        # critical section, where only checking room and allocating belong.
        ranked = ranking([c for c in self.index.candidates() if hosts is None or hosts(c)],
                         users, preferred)
        locations = self.index.locations()

        def decide(uow: UnitOfWork) -> Accepted:
            deployment = Deployment.request(request_id, spec_for(uow), uow.now)
            spec = deployment.spec
            need = Need(spec["cpu_units"], spec["memory_mb"], spec["image"], require_cached)
            chosen = _allocate(uow, ranked, need, request_id)
            if chosen is not None:
                deployment.place(UUID(chosen.host_id),
                                 dict(locations.get(chosen.host_id, {})), uow.now)
                uow.ring([deployment.node_id])
            else:
                if not last_try and self.index.refresh():
                    raise _StaleSnapshotError
                if refuse:
                    raise NoRoomError(NO_ROOM)
                deployment.fail_placement(NO_ROOM, uow.now)
                settle_attempt(uow, deployment)
            uow.add(deployment)
            hooked = any(spec["webhooks"].values())
            return Accepted(request_id, deployment.node_id is not None, deployment.node_id,
                            reveal(self.box, spec["hook_secret"]) if hooked else None)

        likely = islice((c for c in ranked
                         if c.healthy and c.free_cpu_units > 0 and c.free_memory_mb > 0), PREFETCH)
        prefetch = (*reads, *(i for c in likely for i in (host_uuid(UUID(c.host_id)),
                                                           UUID(c.host_id))))
        return self.writes.run(decide, prefetch=prefetch)

    def _spec(self, uow: UnitOfWork, cmd: DeploymentCreate, request_id: str) -> dict[str, Any]:
        app = uow.find(App, app_uuid(cmd.application))
        version = None if app is None or app.deleted else app.versions.get(cmd.version)
        if version is None:
            raise InvalidAppVersionError("Invalid Application or Application Version")
        env = {v["key"]: v for v in version["env"]}
        env.update({v.key: sealed_env(self.box, v.key, v.value, v.is_hidden)
                    for v in cmd.environment_variables})
        hooks = {k: getattr(cmd, f"webhook_on_{k}").url if getattr(cmd, f"webhook_on_{k}")
                 else None for k in ("ready", "error", "terminated")}
        return {
            **self._platform(request_id),
            "app": cmd.application, "version": cmd.version, "image": version["image"],
            "ports": version["ports"], "cpu_units": version["cpu_units"],
            "memory_mb": version["memory_mb"], "max_duration": version["max_duration"],
            "command": version["command"], "arguments": version["arguments"],
            "env": list(env.values()), "tags": list(dict.fromkeys(cmd.tags)), "webhooks": hooks,
        }

    def _platform(self, request_id: str) -> dict[str, Any]:
        """What every deployment gets from us: its self-stop URL and token, a hook secret (both
        sealed: see reveal)."""
        access_point = secrets.randbelow(1 << 31)
        return {
            "access_point_id": access_point,
            "hook_secret": self.box.seal(secrets.token_urlsafe(32).encode()),
            "delete_token": self.box.seal(secrets.token_urlsafe(24).encode()), "webhooks": {},
            "delete_url": f"{self.public_url}/v1/self/stop/{request_id}/{access_point}",
        }

    def stop(self, request_id: str, reason: str = "stop requested") -> bool:
        """True: stopping now (200); False: deferred until READY or ERROR (202)."""
        def decide(uow: UnitOfWork) -> bool:
            deployment = self._get(uow, request_id)
            now = deployment.stop(reason, uow.now)
            node = uow.find(Node, deployment.node_id) if deployment.node_id else None
            if deployment.node_id and (node is None or node.deleted):
                # No node will carry the stop out (one deleted before deletions ended its
                # deployments): it ends here.
                now = deployment.node_deleted(uow.now) or now
            self._release_if_over(uow, deployment)
            uow.ring([deployment.node_id])
            return now

        return self.writes.run(decide)

    def self_stop(self, request_id: str, access_point_id: int, token: str) -> bool:
        def decide(uow: UnitOfWork) -> bool:
            deployment = self._get(uow, request_id)
            spec = deployment.spec
            if spec["access_point_id"] != access_point_id or not hmac.compare_digest(
                token.encode(), self._reveal(request_id, spec["delete_token"]).encode()
            ):
                # The seed's 403: the deployment exists, the caller is not its container.
                raise ForbiddenError(f"the delete token of deployment {request_id} does not"
                                     " match")
            now = deployment.stop("self-stop", uow.now)
            self._release_if_over(uow, deployment)
            uow.ring([deployment.node_id])
            return now

        return self.writes.run(decide)

    def _reveal(self, request_id: str, sealed: str) -> str:
        try:
            return reveal(self.box, sealed)
        except UnsealError as exc:
            self.unsealing.failed(f"deployment {request_id}", exc)
            raise SecretUnavailableError(f"deployment {request_id}: {UNSEALABLE}") from exc

    def _get(self, uow: UnitOfWork, request_id: str) -> Deployment:
        return uow.get(Deployment, deployment_uuid(request_id), f"deployment {request_id}")

    def _release_if_over(self, uow: UnitOfWork, deployment: Deployment) -> None:
        """A deployment that ended (or whose container is gone) gives its room back."""
        settle_attempt(uow, deployment)
        over = deployment.status in (Status.TERMINATED.value, Status.ERROR.value)
        if over and deployment.node_id is not None:
            host = uow.find(Host, host_uuid(deployment.node_id))
            if host is not None and deployment.request_id in host.allocations:
                host.release(deployment.request_id, uow.now)
                uow.add(host)

    # -- what the agent reports -------------------------------------------------------------
    def report(self, node_id: UUID, request_id: str, report: DeploymentReport) -> str:
        """The node's word on its container; returns the status after it."""
        def decide(uow: UnitOfWork) -> str:
            deployment = self._get(uow, request_id)
            if deployment.node_id != node_id:
                raise NotFoundError(f"deployment {request_id} not found")
            if report.state == "ready":
                deployment.ready(msgspec.to_builtins(report.ports), report.public_ip, uow.now)
            elif report.state == "error":
                deployment.fail(report.detail or "container failed", report.exit_code, uow.now)
            else:
                deployment.terminated(report.exit_code, uow.now)
            superseded = settle_attempt(uow, deployment)
            self._release_if_over(uow, deployment)
            uow.add(deployment)
            uow.ring([self._stop_superseded(uow, superseded, request_id),
                      self._roll_back_if_due(uow, deployment)])
            return deployment.status

        return self.writes.run(decide)

    def _roll_back_if_due(self, uow: UnitOfWork, failed: Deployment) -> UUID | None:
        """A resource's attempt that just failed, on a resource asking for automatic rollback:
        the rollback attempt placed in this transaction (application/automatic_rollback.py).
        Returns its node to ring."""
        request_id = new_request_id()
        spec = automatic_rollback(uow, failed, deployment_uuid(request_id))
        if spec is None:
            return None
        rollback = Deployment.request(
            request_id, {**self._platform(request_id), "tags": [], **spec}, uow.now)
        need = Need(spec["cpu_units"], spec["memory_mb"], spec["image"], False)
        chosen = _allocate(uow, ranking(self.index.candidates(), []), need, request_id,
                           snapshot_room=False)  # the failed attempt's room came back just now
        if chosen is None:
            rollback.fail_placement(NO_ROOM, uow.now)
            settle_attempt(uow, rollback)  # a rollback that fails is not rolled back
        else:
            rollback.place(UUID(chosen.host_id),
                           dict(self.index.locations().get(chosen.host_id, {})), uow.now)
        uow.add(rollback)
        return rollback.node_id

    def _stop_superseded(self, uow: UnitOfWork, superseded: UUID | None,
                         by: str) -> UUID | None:
        """A resource's new attempt is healthy: its previous one, which kept serving until
        now (no downtime on redeploy), stops. Returns the node to ring."""
        previous = None if superseded is None else uow.find(Deployment, superseded)
        if previous is None or previous.status != Status.READY.value or previous.stopping:
            return None
        previous.stop(f"superseded by deployment {by}", uow.now)
        self._release_if_over(uow, previous)
        return previous.node_id

    # -- starts that never came (the scheduler) --------------------------------------------
    def expire_unstarted(self, deadline_seconds: float, listening_since: datetime | None) -> int:
        """Ends in ERROR, room given back, one batch of deployments placed at least
        `deadline_seconds` ago (plus what its health check may take) that their node has not
        reported started. Only while an admin was up that long to hear the reports
        (`listening_since`, None: not yet): after an outage, every start is late."""
        deadline = timedelta(seconds=deadline_seconds)
        cutoff = self.writes.clock.now() - deadline
        if listening_since is None or listening_since > cutoff:
            return 0
        due = self.finder.deploying_before(cutoff, BATCH)

        def why(uow: UnitOfWork, deployment: Deployment) -> str | None:
            allowed = deadline_seconds + health_allowance(deployment.spec)
            if not deployment.start_overdue(timedelta(seconds=allowed), uow.now):
                return None
            return f"not started within {allowed:g} s on node {deployment.node_id}"

        return self._give_up(due, why)

    def abandon_on_lost_nodes(self) -> int:
        """Ends in ERROR, room given back, one batch of deployments not yet started on a node
        that is now unreachable or deleted. They are not placed again elsewhere: where they may
        go (users, preferred hosts, a region, cached images) is not recorded, and an Edgegap
        client deploys again on an error. READY ones are left alone: the node may come back
        with them running, and one that comes back without its container loses it then."""
        candidates = self.finder.deploying_on_lost_nodes(BATCH)

        def why(uow: UnitOfWork, deployment: Deployment) -> str | None:
            node = uow.find(Node, deployment.node_id) if deployment.node_id else None
            if node is None or node.deleted:
                return f"node {deployment.node_id} was deleted before starting it"
            if node.status == NodeStatus.UNREACHABLE.value:
                return f"node {deployment.node_id} became unreachable before starting it"
            return None  # back meanwhile: the read model was behind

        return self._give_up(candidates, why)

    def _give_up(self, request_ids: list[str],
                 why: Callable[[UnitOfWork, Deployment], str | None]) -> int:
        """Decides on current state, so a pass is idempotent and a start reported meanwhile
        wins; the node is rung, as it may hold a container it must now remove."""
        if not request_ids:
            return 0

        def decide(uow: UnitOfWork) -> int:
            count = 0
            for request_id in request_ids:
                deployment = uow.find(Deployment, deployment_uuid(request_id))
                if deployment is None or deployment.status != Status.DEPLOYING.value:
                    continue
                detail = why(uow, deployment)
                if detail is not None and deployment.give_up_start(detail, uow.now):
                    self._release_if_over(uow, deployment)
                    uow.ring([deployment.node_id, self._roll_back_if_due(uow, deployment)])
                    count += 1
            return count

        return self.writes.run(decide, prefetch=tuple(deployment_uuid(r) for r in request_ids))

    def end_on_deleted_node(self, uow: UnitOfWork, request_ids: Sequence[str]) -> None:
        """Inside a node's deletion: its deployments end (Deployment.node_deleted) and give
        their room back. No rollback: it would be placed on the node just deleted."""
        for request_id in request_ids:
            deployment = uow.find(Deployment, deployment_uuid(request_id))
            if deployment is not None and deployment.node_deleted(uow.now):
                self._release_if_over(uow, deployment)

    def lost(self, node_id: UUID, request_ids: list[str]) -> None:
        """Deployments whose container is gone from their node with no exit seen."""
        for request_id in request_ids:
            self.report(node_id, request_id, DeploymentReport(state="error", detail=LOST))

    def work_for(self, node_id: UUID, held: Sequence[str],
                 live: Sequence[DeploymentRef] | None = None) -> dict[str, list[Any]]:
        """The containers the node should start and stop now (see deployment_work). `live`:
        the node's live deployments, if the caller has just read them."""
        return work_for(self, node_id, held, live)

    def cannot_start(self, node_id: UUID, request_id: str, error: UnsealError) -> None:
        """A deployment whose secrets do not open cannot start: it fails now, with the reason,
        rather than waiting in DEPLOYING for a key that may never come back."""
        self.unsealing.failed(f"deployment {request_id}", error)
        detail = f"{UNSEALABLE} ({error}): the key that sealed them is missing on the admin"
        self.report(node_id, request_id, DeploymentReport(state="error", detail=detail))

    # -- tags -------------------------------------------------------------------------------
    def add_tag(self, request_id: str, name: str) -> None:
        self._tags(request_id, lambda d, now: d.add_tag(name, now))

    def rename_tag(self, request_id: str, old: str, new: str) -> None:
        self._tags(request_id, lambda d, now: d.rename_tag(old, new, now))

    def remove_tag(self, request_id: str, name: str) -> None:
        self._tags(request_id, lambda d, now: d.remove_tag(name, now))

    def _tags(self, request_id: str, change: Callable[[Deployment, datetime], None]) -> None:
        def decide(uow: UnitOfWork) -> None:
            change(self._get(uow, request_id), uow.now)

        self.writes.run(decide)

    def bulk_stop(self, request_ids: list[str]) -> list[str]:
        """Stops each (deferred where needed); returns those that were not already over."""
        processable = []
        for request_id in request_ids:
            try:
                self.stop(request_id, "bulk stop")
            except (AlreadyTerminatedError, NotFoundError):
                continue
            processable.append(request_id)
        return processable

    def stop_all_overdue(self) -> int:
        """Stops every deployment past its version's max_duration (the scheduler's pass)."""
        return self.stop_overdue(self.finder.overdue(self.writes.clock.now()))

    def stop_overdue(self, overdue: list[str]) -> int:
        """Stops these deployments, found past their version's max_duration."""
        stopped = 0
        for request_id in overdue:
            try:
                self.stop(request_id, "max_duration reached")
            except (AlreadyTerminatedError, NotFoundError):
                continue
            stopped += 1
        return stopped
