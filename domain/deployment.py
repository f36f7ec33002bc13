"""A deployment: one container of an application version placed on a node near its users.

Statuses are Edgegap's `Status.*` values. A deployment is requested and placed (DEPLOYING) or
fails to place (ERROR) in one decision; the agent reports READY (with its ports) or ERROR (with
an exit code), or the admin gives up on a start that never came (ERROR); a stop ends it
TERMINATED. A stop asked while it is neither READY nor ERROR is kept and carried out as soon as
it gets there, as the seed says. ERROR is over for the admin: nothing it accounts for runs (the
agent removes a failed container, and is told to remove any it still holds), so a stop ends an
ERROR deployment at once and a late word from the node changes nothing.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from domain.shared import GoneError, InvalidValueError, StateConflictError, name_id

REQUEST_ID = re.compile(r"^[0-9a-f]{12}\Z")
MAX_TAG = 128
MAX_TAGS = 64  # per deployment, at its request and after


class Status(StrEnum):
    SEEKING = "Status.SEEKING"
    DEPLOYING = "Status.DEPLOYING"
    READY = "Status.READY"
    ERROR = "Status.ERROR"
    TERMINATED = "Status.TERMINATED"


class AlreadyTerminatedError(StateConflictError):
    """The seed's "Instance Already terminated"."""


class TagExistsError(StateConflictError):
    """A deployment's tags are unique by name."""


def check_tag(name: str) -> None:
    if not 1 <= len(name) <= MAX_TAG or any(ord(c) < 32 for c in name):
        raise InvalidValueError(f"1 to {MAX_TAG} printable characters", "name")


def deployment_uuid(request_id: str) -> UUID:
    return name_id("deployment", request_id)


# webhook_on_<kind> is called with the catalog message of that type.
HOOK_TYPES = {"edge.deployment.ready": "ready", "edge.deployment.error": "error",
              "edge.deployment.terminated": "terminated"}


def hook_id(request_id: str, kind: str) -> UUID:
    """The delivery queue's webhook id for one deployment's webhook_on_<kind>."""
    return name_id("deployment-hook", request_id, kind)


class Deployment(Aggregate):
    """What was asked (app version, users, env, tags, hooks) and what became of it."""

    @event("Requested")
    def __init__(
        self,
        id: UUID,  # noqa: A002
        request_id: str,
        spec: dict[str, Any],
        at: datetime,
    ) -> None:
        self.request_id = request_id
        self.spec = spec  # app, version, image, ports, resources, env, tags, webhooks, users
        self.status = Status.SEEKING.value
        self.last_status: str | None = None
        self.node_id: UUID | None = None
        self.error_detail = ""
        self.stop_pending: str | None = None  # the reason of a stop asked before READY/ERROR
        self.stopping: str | None = None  # the reason of a stop the agent is carrying out
        # A stop was asked before READY or ERROR (Appaloft's cancel of an active attempt), and
        # whether it was ever READY (healthy): kept through what follows, so the attempt status
        # (domain/deployment_attempt.py) holds without the event history.
        self.stopped_early = False
        self.ever_ready = False
        self.requested_at = at
        self.placed_at: datetime | None = None
        self.archived_at: datetime | None = None  # Appaloft's archive of a terminal attempt
        self.tags: list[str] = list(spec.get("tags", []))

    @classmethod
    def request(cls, request_id: str, spec: dict[str, Any], at: datetime) -> Deployment:
        return cls(id=deployment_uuid(request_id), request_id=request_id, spec=spec, at=at)

    @property
    def ended(self) -> bool:
        """ERROR or TERMINATED: only a late report or stop is left to it."""
        return self.status in (Status.ERROR.value, Status.TERMINATED.value)

    # -- placement ------------------------------------------------------------------------
    def place(self, node_id: UUID, location: dict[str, Any], at: datetime) -> None:
        self._placed(request_id=self.request_id, node_id=node_id, location=location, at=at)

    @event("Placed")
    def _placed(
        self, request_id: str, node_id: UUID, location: dict[str, Any], at: datetime
    ) -> None:
        self.node_id = node_id
        self.placed_at = at
        self._move(Status.DEPLOYING)

    def fail_placement(self, detail: str, at: datetime) -> None:
        self._fail(detail, None, at, reported=False)

    def start_overdue(self, deadline: timedelta, now: datetime) -> bool:
        """Placed at least `deadline` ago and still not started by its node."""
        return (self.status == Status.DEPLOYING.value and self.placed_at is not None
                and now - self.placed_at >= deadline)

    def give_up_start(self, detail: str, at: datetime) -> bool:
        """The admin stops waiting for the node to start it (start deadline passed, node
        unreachable or deleted): ERROR, as if the node had reported a failed start. Only a
        DEPLOYING deployment: one the node already started is left to the node's reports."""
        if self.status != Status.DEPLOYING.value:
            return False
        return self.fail(detail, None, at, reported=False)

    def node_deleted(self, at: datetime) -> bool:
        """Its node was deleted: nothing will start it, report on it or stop it any more. It
        ends: TERMINATED when a stop was asked (the end asked for), else ERROR. A READY one too,
        unlike an unreachable node's, which may come back with its container."""
        return self.fail(f"node {self.node_id} was deleted", None, at, reported=False)

    # -- what the agent reports -------------------------------------------------------------
    def ready(self, ports: dict[str, Any], public_ip: str, at: datetime) -> bool:
        """Recorded once; a report after a stop or an error changes nothing."""
        if self.status != Status.DEPLOYING.value:
            return False
        self._ready(request_id=self.request_id, ports=ports, public_ip=public_ip, at=at)
        self._carry_out_pending(at)
        return True

    @event("Ready")
    def _ready(self, request_id: str, ports: dict[str, Any], public_ip: str, at: datetime) -> None:
        self.ever_ready = True
        self._move(Status.READY)

    def fail(self, detail: str, exit_code: int | None, at: datetime, *,
             reported: bool = True) -> bool:
        """The container could not start or crashed (`reported`: its node says so; False:
        the admin decided it, as in `give_up_start` and `node_deleted`)."""
        if self.status in (Status.ERROR.value, Status.TERMINATED.value):
            return False
        if self.stopping is not None:  # it died while being stopped: that is the end asked for
            self._terminate(self.stopping, exit_code, at)
            return True
        self._fail(detail, exit_code, at, reported=reported)
        return True

    def _fail(self, detail: str, exit_code: int | None, at: datetime, *, reported: bool) -> None:
        self._failed(request_id=self.request_id, detail=detail, exit_code=exit_code,
                     previous=self.status, reported=reported, at=at)
        self._carry_out_pending(at)

    class Failed(Aggregate.Event):
        """ERROR. `reported`: the node reported the failure (its container failed or was
        lost); False: the admin decided it (no room at placement, a start never reported in
        time, the node unreachable or deleted). Version 2 added `reported`."""

        class_version = 2
        request_id: str
        detail: str
        exit_code: int | None
        previous: str
        reported: bool
        at: datetime

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """Events stored before `reported` was: the admin's own failures are told by the
            words it wrote for them (application/deployments.py), the rest were reports."""
            detail = state["detail"]
            decided = (state["previous"] == Status.SEEKING.value
                       or detail.startswith("not started within ")
                       or (detail.startswith("node ") and (
                           detail.endswith(" was deleted")
                           or detail.endswith(" before starting it"))))
            state["reported"] = not decided

    @event(Failed)
    def _failed(  # noqa: PLR0913 - the event's fields
        self, request_id: str, detail: str, exit_code: int | None, previous: str,
        reported: bool, at: datetime,
    ) -> None:
        self.error_detail = detail
        self._move(Status.ERROR)

    def terminated(self, exit_code: int | None, at: datetime) -> bool:
        if self.status == Status.TERMINATED.value:
            return False
        if self.status == Status.ERROR.value and self.stopping is None:
            # The node removed a container of a deployment already over (one it started after
            # the admin gave up on it): cleaning up, not an end anyone asked for.
            return False
        self._terminate(self.stopping or "stopped", exit_code, at)
        return True

    def _terminate(self, reason: str, exit_code: int | None, at: datetime) -> None:
        self._terminated(request_id=self.request_id, reason=reason, exit_code=exit_code,
                         previous=self.status, at=at)

    @event("Terminated")
    def _terminated(
        self, request_id: str, reason: str, exit_code: int | None, previous: str, at: datetime
    ) -> None:
        self.stopping = self.stop_pending = None
        self._move(Status.TERMINATED)

    # -- stopping ---------------------------------------------------------------------------
    def stop(self, reason: str, at: datetime) -> bool:
        """True when the stop happens now (200), False when deferred (202)."""
        if self.status == Status.TERMINATED.value:
            raise AlreadyTerminatedError(f"Instance {self.request_id} is already terminated")
        if self.status == Status.ERROR.value:  # nothing runs: it ends now (see _begin_stop)
            self._begin_stop(reason, at)
            return True
        if self.stopping is not None or self.stop_pending is not None:
            return self.stopping is not None
        if self.status == Status.READY.value:
            self._begin_stop(reason, at)
            return True
        self._stop_deferred(request_id=self.request_id, reason=reason, at=at)
        return False

    @event("StopDeferred")
    def _stop_deferred(self, request_id: str, reason: str, at: datetime) -> None:
        self.stop_pending = reason
        self.stopped_early = True

    def _carry_out_pending(self, at: datetime) -> None:
        if self.stop_pending is not None:
            self._begin_stop(self.stop_pending, at)

    def _begin_stop(self, reason: str, at: datetime) -> None:
        # Never placed, or failed: nothing runs that the node would have to stop. Waiting for
        # a node to confirm the end of an ERROR deployment left it "stopping" for good when
        # that node was gone or no longer held the container.
        if self.node_id is None or self.status == Status.ERROR.value:
            self._terminate(reason, None, at)
        else:
            self._stop_requested(
                request_id=self.request_id, reason=reason, status=self.status, at=at
            )

    @event("StopRequested")
    def _stop_requested(self, request_id: str, reason: str, status: str, at: datetime) -> None:
        self.stopping = reason
        self.stop_pending = None

    # -- archiving (Appaloft's terminal attempts: domain/deployment_attempt.py) --------------
    def archive(self, at: datetime) -> None:
        """Hides it from Appaloft's lists; nothing it recorded is deleted and nothing it runs
        changes. Archiving an archived deployment changes nothing."""
        if self.archived_at is None:
            self._archived(request_id=self.request_id, status=self.status, at=at)

    @event("Archived")
    def _archived(self, request_id: str, status: str, at: datetime) -> None:
        self.archived_at = at

    # -- tags (not injected into a running container, as the seed says) -------------------
    def add_tag(self, name: str, at: datetime) -> None:
        check_tag(name)
        if name in self.tags:
            raise TagExistsError(f"tag {name} already exists on {self.request_id}", "name")
        if len(self.tags) >= MAX_TAGS:
            raise InvalidValueError(f"a deployment has at most {MAX_TAGS} tags", "name")
        self._tag_added(name=name, at=at)

    @event("TagAdded")
    def _tag_added(self, name: str, at: datetime) -> None:
        self.tags.append(name)

    def rename_tag(self, old: str, new: str, at: datetime) -> None:
        self._need_tag(old)
        check_tag(new)
        if new != old and new in self.tags:
            raise TagExistsError(f"tag {new} already exists on {self.request_id}", "name")
        if new != old:
            self._tag_renamed(old=old, new=new, at=at)

    @event("TagRenamed")
    def _tag_renamed(self, old: str, new: str, at: datetime) -> None:
        self.tags[self.tags.index(old)] = new

    def remove_tag(self, name: str, at: datetime) -> None:
        self._need_tag(name)
        self._tag_removed(name=name, at=at)

    @event("TagRemoved")
    def _tag_removed(self, name: str, at: datetime) -> None:
        self.tags.remove(name)

    def _need_tag(self, name: str) -> None:
        if name not in self.tags:
            raise GoneError(f"tag {name} not found on {self.request_id}", "tag_name")

    def _move(self, status: Status) -> None:
        self.last_status, self.status = self.status, status.value
