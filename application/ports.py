"""Ports the application depends on; adapters implement them, bootstrap wires them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import msgspec
from eventsourcing.persistence import Tracking

from domain.catalog import Message
from domain.host import Profile
from domain.placement import Candidate
from domain.targeting import Targeting


class Clock(Protocol):
    """Source of the current UTC time, passed into aggregates as data."""

    def now(self) -> datetime: ...


class ReadModelWaiter(Protocol):
    """Lets a write return only after the read model holds its own events."""

    def notify_written(self, position: int) -> None: ...

    def saving(self) -> None:
        """A save is about to commit in this process (its events will be handed over)."""
        ...

    def saved(self, events: Sequence[tuple[Any, int]]) -> None:
        """The save ended: its events with their notification ids, or none if it failed. An
        in-process projector applies them as they are instead of reading them back."""
        ...

    def wait(self, position: int) -> None: ...

    async def check_async(self) -> None:
        """`check` on the event loop (it reads the database where another process projects)."""
        ...

    async def wait_async(self, position: int) -> None:
        """`wait` on the event loop; returns at once when the read model holds `position`."""
        ...

    def check(self) -> None:
        """Raises when the read model cannot follow the log, so a write would be recorded but
        never answered: the write is refused before it is decided."""
        ...


class CommittedRows(Protocol):
    """Read-model rows as a save's own commit left them, where its changes alone tell them
    (projections.committed): a write's answer is rendered from them instead of read back."""

    def row(self, table: str, key: Any) -> dict[str, Any] | None:
        """The row of `table` with this key, None where the changes do not tell it."""
        ...


class _NoRows:
    def row(self, table: str, key: Any) -> dict[str, Any] | None:
        return None


NO_ROWS: CommittedRows = _NoRows()  # a save whose read-model changes went in another commit


class Seen(NamedTuple):
    """A node a heartbeat found, and its status before it."""

    node_id: UUID
    status: str


class Liveness(Protocol):
    """Heartbeat sink on the read side; heartbeats are not events."""

    def touch(self, node_id: UUID, at: datetime) -> str | None:
        """Records last_seen_at; returns the node's current status, None if unknown."""
        ...

    async def seen_by_token_async(self, api_token: str, at: datetime) -> Seen | None:
        """Records last_seen_at of the node bearing `api_token`, on the event loop; that node
        and its status, None if no node bears it."""
        ...

    def silent(self, seen_before: datetime, statuses: tuple[str, ...], limit: int) -> list[UUID]:
        """Nodes in one of `statuses` last heard from before `seen_before`, at most `limit`."""
        ...


# A public event's catalog message id and its position in the log.
MessageKey = tuple[UUID, int]


class RelayTracking(Protocol):
    """Where the relay records how far it has published, and with it, in the same
    transaction, the message ids of what it published since it last recorded: the index
    GET /audit-events/{id} reads (adapters/event_message_ids.py), written off the write path
    and complete up to the recorded position."""

    def max_tracking_id(self, application_name: str) -> int | None: ...

    def insert_tracking_and_ids(self, tracking: Tracking, ids: Sequence[MessageKey]) -> None: ...


class EventPublisher(Protocol):
    """Where the relay sends catalog messages (JetStream, or the in-process bus)."""

    async def start(self) -> None: ...

    @property
    def connected(self) -> bool:
        """Whether the broker can be reached now (readiness)."""
        ...

    async def publish(self, messages: Sequence[Message]) -> None:
        """Publishes in order; returns only when every message is durably accepted."""
        ...

    async def reconnect(self) -> None:
        """Opens the connection again if it was dropped (so `connected` recovers while there
        is nothing to publish); one bounded attempt, raising while the broker is away."""
        ...

    async def check(self) -> None:
        """While nothing is published: readies again what a publish needs that went away
        meanwhile (a stream deleted is made again), raising if it cannot."""
        ...

    async def close(self) -> None: ...


MessageHandler = Callable[[Sequence[Message]], Awaitable[object]]


class MessageSource(Protocol):
    """Where a webhook worker takes published messages from (a durable JetStream consumer
    shared by every worker)."""

    async def consume(self, handle: MessageHandler, stop: asyncio.Event) -> None:
        """Hands each batch to `handle` and acknowledges it only after `handle` returned,
        until `stop`; outlives broker outages (reconnects)."""
        ...


class UnsealError(ValueError):
    """A sealed value does not open: the key that sealed it is not among this process's keys
    (`key_id` names it when the value says), or the value was altered."""

    def __init__(self, message: str, key_id: str | None = None) -> None:
        super().__init__(message)
        self.key_id = key_id


class SecretBox(Protocol):
    """Authenticated encryption for secrets kept at rest (webhook secrets and headers,
    deployment tokens and hook secrets, hidden environment values)."""

    def seal(self, plaintext: bytes) -> str: ...

    def open(self, sealed: str) -> bytes:
        """Raises UnsealError when the value does not open."""
        ...


class DestinationGuard(Protocol):
    """SSRF policy for outbound URLs; raises InvalidValueError(field="url") when denied."""

    def check(self, url: str) -> None: ...


@dataclass(frozen=True)
class Subscription:
    """A webhook as the fan-out sees it."""

    webhook_id: UUID
    event_types: frozenset[str]
    created_position: int


@dataclass(frozen=True)
class NewDelivery:
    """One message owed to one webhook; `id` is the webhook-id header, fixed for all attempts."""

    id: UUID
    webhook_id: UUID
    message_id: UUID
    event_type: str
    position: int
    body: bytes


class WebhookDirectory(Protocol):
    """Current subscriptions, read from the webhooks read model."""

    def subscriptions(self) -> list[Subscription]: ...

    def deployment_hooks(self, request_ids: Iterable[str]) -> set[tuple[str, str]]:
        """(request_id, kind) of the webhook_on_<kind> URLs these deployments were given."""
        ...


class DeliveryQueue(Protocol):
    """Durable queue of deliveries; enqueueing the same id twice is a no-op."""

    def enqueue(self, deliveries: Sequence[NewDelivery]) -> int: ...


class DeliveryHistory(Protocol):
    """Deliveries sent or failed for good, kept with their attempts for the deliveries API:
    nothing but retention removes them (application/delivery_retention.py)."""

    def delete_finished_before(self, cutoff: datetime, limit: int) -> int:
        """Deletes up to `limit` deliveries that finished (succeeded or failed for good)
        before `cutoff`, oldest first, with their attempts, in one short transaction; never
        a pending one. Returns how many deliveries went."""
        ...


@dataclass(frozen=True)
class Backlog:
    """Deliveries still owed (due, leased or waiting for a retry alike), and since when the
    oldest of them has been owed (None when none is)."""

    pending: int
    oldest_since: datetime | None


class DeliveryBacklog(Protocol):
    """What the metrics read of the delivery queue at every scrape: one small query."""

    def backlog(self) -> Backlog: ...


@dataclass(frozen=True)
class Target:
    """A node an order resolved to, with the cluster it was in at that moment."""

    node_id: UUID
    cluster_name: str


class TargetFinder(Protocol):
    """Resolves targeting against the fleet read model (once, when an order is created)."""

    def resolve(self, targeting: Targeting) -> list[Target]: ...

    async def resolve_async(self, targeting: Targeting) -> list[Target]: ...


@dataclass(frozen=True)
class ExecutionRef:
    """An open execution as the read model last saw it; decisions reload the aggregate."""

    id: UUID
    status: str
    cancel_requested: bool
    sent_at: datetime | None


class ExecutionIndex(Protocol):
    """Read-side lookups that find which executions and requests need attention."""

    def open_for_node(self, node_id: UUID, limit: int) -> list[ExecutionRef]:
        """Pending and sent executions of a node, oldest first."""
        ...

    async def open_for_node_async(self, node_id: UUID, limit: int) -> list[ExecutionRef]:
        """`open_for_node` awaited on the event loop."""
        ...

    def due(self, now: datetime, limit: int) -> list[UUID]:
        """Open executions whose expired_at has passed."""
        ...

    def orphaned(self, limit: int) -> list[UUID]:
        """Open executions whose node was deleted."""
        ...

    def on_unreachable_nodes(self, seen_before: datetime, limit: int) -> list[UUID]:
        """Open executions of nodes unreachable and unseen since `seen_before`."""
        ...

    def finished_before(self, cutoff: datetime, limit: int) -> list[UUID]:
        """Terminal executions last changed before `cutoff` (retention)."""
        ...

    def unfinished_update_requests(self, limit: int) -> list[UUID]:
        """Self-update requests still pending or processing, oldest first."""
        ...


class WorkNotifier(Protocol):
    """Wakes the long polls of agents that have new work (executions, cancels, updates).

    Work a decision records rings with its commit (UnitOfWork.ring): the write path wakes the
    polls here once the commit is read back, and the commit itself carries `notices` to the
    other processes where the store can. `ring` is for work recorded outside a decision."""

    def ring(self, node_ids: Iterable[UUID]) -> None:
        """Wakes the nodes' polls here, and in other processes by a notice of its own."""

    def ring_here(self, node_ids: Iterable[UUID] | None) -> None:
        """Wakes the nodes' polls in this process only (None: every poll)."""

    def notices(self, node_ids: Sequence[UUID]) -> list[str]:
        """What a commit carries so that other processes wake the nodes' polls (empty: no
        other process can hear)."""


class PasswordHasher(Protocol):
    """One-way password hashing (Argon2id in production); plain passwords are never stored."""

    def hash(self, password: str) -> str: ...

    def verify(self, hashed: str, password: str) -> bool: ...


@dataclass(frozen=True)
class StoredUsername:
    """What a login check needs to know about an SSH username."""

    id: UUID
    password_hash: str | None


class SshCredentials(Protocol):
    """Read-model lookups for login checks: the admin answers from what it shows, no replay."""

    def username(self, node_id: UUID, username: str) -> StoredUsername | None: ...

    def has_key(self, ssh_username_id: UUID, fingerprint: str) -> bool: ...


@dataclass(frozen=True)
class AdminMember:
    """An admin as the read model knows it: announced profile and last check-in."""

    id: UUID
    name: str
    admin_cluster_name: str
    max_peers: int
    url: str
    present: bool  # False once it left cleanly
    joined_at: datetime
    last_checked_in: datetime | None


class AdminDirectory(Protocol):
    """Read-model lookups for membership and sharding."""

    def members(self) -> list[AdminMember]: ...

    def cluster_sizes(self) -> dict[str, int]:
        """Every edge cluster's name and node count."""
        ...

    def cluster_nodes(self) -> dict[str, list[UUID]]:
        """Every edge cluster's node ids (empty clusters included)."""
        ...


class AdminCheckins(Protocol):
    """Liveness of admin processes; on the read side, never an event."""

    def check_in(self, admin_id: UUID, at: datetime) -> None: ...


@dataclass(frozen=True)
class MetricsReport:
    """The latest metrics a node's agent sent, with when the admin received them."""

    node_id: UUID
    received_at: datetime
    host: dict[str, Any]
    agent: dict[str, Any]


class NodeMetricsBook(Protocol):
    """Keeps each node's latest metrics report (replaced, not appended: there is no history)."""

    def put(self, report: MetricsReport) -> None: ...

    async def put_by_token_async(self, api_token: str, received_at: datetime,
                                 host: dict[str, Any], agent: dict[str, Any]) -> UUID | None:
        """`put` for the node bearing `api_token`, on the event loop; that node's id, None if no
        node bears it (nothing kept)."""
        ...

    def latest(self, node_id: UUID) -> MetricsReport | None: ...


@dataclass(frozen=True)
class GeoPlace:
    """Where an IP address is, as far as the geo-IP data knows."""

    latitude: float
    longitude: float
    country: str | None = None
    city: str | None = None


class GeoLocator(Protocol):
    """IP address -> approximate place (None: private, unknown or not an address)."""

    def locate(self, ip_address: str) -> GeoPlace | None: ...


class PlacementIndex(Protocol):
    """Every host with its location, room, health and cached images (read model)."""

    def candidates(self) -> list[Candidate]: ...

    def locations(self) -> dict[str, dict[str, Any]]:
        """Each host's location, by host id (same snapshot as candidates)."""
        ...

    def refresh(self) -> bool:
        """Drops the snapshot so the next read is fresh; False when it is fresh already."""
        ...


# Structs, not dataclasses: the adapter reads exactly their columns of the read model into them.
class DeploymentRef(msgspec.Struct, frozen=True, kw_only=True):
    """A deployment as the read model shows it to its node's work polls and reports."""

    request_id: str
    id: UUID
    status: str  # a domain.deployment.Status value
    node_id: UUID | None = None  # None until placed
    spec: str  # JSON: the Deployment's spec, secrets sealed
    location: str | None = None  # JSON: where its host is
    stopping: str | None = None  # why a stop was asked; None: none was


class DeploymentRuntime(msgspec.Struct, frozen=True, kw_only=True):
    """What runtime controls decided a deployment's container should be."""

    resource_id: UUID
    desired: str  # running | stopped
    attempt_id: UUID | None = None  # the control waiting for the agent's word; None: none


class ProjectContents(Protocol):
    """What a project still holds (read model)."""

    def resource_ids(self, project_id: UUID) -> list[UUID]: ...

    def environment_ids(self, project_id: UUID) -> list[UUID]: ...


class DeploymentFinder(Protocol):
    """request_ids of the deployments matching bulk-stop filters (read model)."""

    def matching(self, filters: Sequence[Any]) -> list[str]: ...

    def overdue(self, now: datetime) -> list[str]: ...

    def deploying_before(self, cutoff: datetime, limit: int) -> list[str]:
        """DEPLOYING deployments requested (so placed) at or before `cutoff`, oldest first."""
        ...

    def deploying_on_lost_nodes(self, limit: int) -> list[str]:
        """Among the `limit` oldest DEPLOYING deployments, those whose node the read model shows
        unreachable or no longer has (deleted)."""
        ...

    def live_on(self, node_id: UUID) -> list[DeploymentRef]:
        """The node's DEPLOYING, READY and ERROR deployments, oldest first."""
        ...

    async def live_on_async(self, node_id: UUID) -> list[DeploymentRef]:
        """`live_on` awaited on the event loop."""
        ...

    def one(self, request_id: str) -> DeploymentRef | None:
        """One deployment (None: unknown)."""
        ...

    async def one_async(self, request_id: str) -> DeploymentRef | None:
        """`one` awaited on the event loop."""
        ...

    async def host_profile_async(self, node_id: UUID) -> Profile | None:
        """The node's host profile as the read model shows it (None: no host yet)."""
        ...

    def runtimes_of(self, deployment_ids: Sequence[UUID]) -> dict[UUID, DeploymentRuntime]:
        """What runtime controls want of each deployment's container, by deployment id (none
        for a deployment no control has touched yet)."""
        ...

    async def runtimes_of_async(self, deployment_ids: Sequence[UUID]
                                ) -> dict[UUID, DeploymentRuntime]:
        """`runtimes_of` awaited on the event loop."""
        ...

    def runtime_controls_before(self, cutoff: datetime, limit: int) -> list[tuple[UUID, UUID]]:
        """(resource id, attempt id) of runtime controls still under way, asked before
        `cutoff`, oldest first."""
        ...


class RuntimeLogStore(Protocol):
    """Lines running containers wrote (agent reports, not events), per deployment, each with
    its sequence (from 1); the oldest are dropped past a bound."""

    def append(self, request_id: str, lines: Sequence[dict[str, Any]], at: datetime,
               places: Sequence[int] | None = None) -> int:
        """Stores the lines after the deployment's last, but none it holds already: a line
        older than the last one taken, or with `places` (each line's place among its stream's
        lines stamped as it) one stamped as the last taken at a place already taken. Returns
        the last sequence."""
        ...

    def read(self, request_id: str, after: int | None, limit: int,
             since: datetime | None) -> list[dict[str, Any]]:
        """Oldest first: the first `limit` lines after sequence `after`, or (None) the last
        `limit` lines; only those written at or after `since`."""
        ...

    def heads(self, request_ids: Sequence[str]) -> dict[str, int]:
        """The last sequence of each deployment that has lines (one read for them all)."""
        ...


class NodeReports(Protocol):
    """What agents report that is no event: kept on the read side, replaced at each report,
    never replayed (cached images, container log tails, resource samples)."""

    def images(self, node_id: UUID, images: Sequence[str]) -> None: ...

    async def images_async(self, node_id: UUID, images: Sequence[str]) -> None:
        """`images` awaited on the event loop."""
        ...

    def container(  # noqa: PLR0913 - one report's fields, named
        self, request_id: str, logs: str, at: datetime, *, crashed: bool,
        exit_code: int | None, sample: dict[str, Any] | None,
    ) -> None: ...

    async def container_async(  # noqa: PLR0913 - one report's fields, named
        self, request_id: str, logs: str, at: datetime, *, crashed: bool,
        exit_code: int | None, sample: dict[str, Any] | None,
    ) -> None:
        """`container` awaited on the event loop."""
        ...

    def progress(self, line: dict[str, Any], keep: int) -> bool:
        """Adds a start's progress line unless its deployment has `keep` already (False)."""
        ...

class DeploymentTelemetryStore(Protocol):
    """Container telemetry the agents push (samples, log tails): read-model rows, not events,
    so only retention ever removes them."""

    def delete_before(self, cutoff: datetime, limit: int) -> int:
        """Deletes up to `limit` samples taken and `limit` log tails last written before
        `cutoff`, oldest first; returns how many rows went."""
        ...


class HealthObservations(Protocol):
    """Agents' observations of resources' running deployments and the live probes asked of
    them: read-model rows, not events (projections/resource_health_tables.py)."""

    async def add_async(self, row: dict[str, Any]) -> None:
        """Keeps one observation, on the event loop (each running container sends one a
        minute, at least)."""
        ...

    async def trim_async(self, resource_id: UUID, keep: int) -> int:
        """Deletes the resource's observations beyond its `keep` newest; how many went."""
        ...

    def add_probe(self, row: dict[str, Any]) -> None: ...

    def take_probes(self, node_id: UUID, since: datetime, now: datetime
                    ) -> list[dict[str, Any]]:
        """The node's probes asked since `since` and not handed out yet, marked handed out."""
        ...

    async def take_probes_async(self, node_id: UUID, since: datetime, now: datetime
                                ) -> list[dict[str, Any]]:
        """`take_probes` awaited on the event loop."""
        ...

    def delete_before(self, cutoff: datetime, limit: int) -> int:
        """Deletes up to `limit` observations and `limit` probes older than `cutoff`."""
        ...
