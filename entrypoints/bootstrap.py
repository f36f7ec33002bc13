"""The only place that constructs adapters and wires them into the application services."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import Environment

from adapters.admin_ports import ViewAdminDirectory, ViewNodeMetrics
from adapters.argon2_hasher import Argon2Hasher
from adapters.deployment_finder import ViewDeploymentFinder
from adapters.deployment_telemetry import ViewDeploymentTelemetry
from adapters.event_decoding import FastMapper
from adapters.event_log import event_log_for
from adapters.event_message_ids import (
    MemoryRelayTracking,
    MessageIdFill,
    PostgresRelayTracking,
    SQLiteRelayTracking,
    message_id_fill,
)
from adapters.file_lock import FileLock, held_alone
from adapters.geo_ip import BundledGeoLocator
from adapters.liveness import SystemClock, ViewLiveness
from adapters.memory_bus import InProcessBus
from adapters.memory_delivery_queue import MemoryDeliveryQueue
from adapters.memory_views import MemoryTableView
from adapters.migrate import MigrationReport, migrate
from adapters.nats_consumer import JetStreamConsumer
from adapters.nats_publisher import JetStreamPublisher
from adapters.node_reports import ViewNodeReports
from adapters.pg_commit_projection import CommitProjection
from adapters.pg_datastore import (
    DatabaseUnavailableError,
    making_tables_alone,
    prepare_database,
    tracking_recorder,
)
from adapters.pg_lock import AdvisoryLock, LockSession
from adapters.pg_notify import NotifyListener, NotifySender
from adapters.pg_recorder import CopyApplicationRecorder
from adapters.pg_secret_key import TABLE as PG_KEY_TABLE
from adapters.pg_secret_key import database_key
from adapters.placement_index import ViewPlacementIndex
from adapters.postgres_views import PostgresFleetView, PostgresTableView
from adapters.read_ports import ViewExecutionIndex, ViewSshCredentials, ViewTargetFinder
from adapters.resource_health import ViewHealthObservations
from adapters.runtime_log_store import ViewRuntimeLogStore
from adapters.secret_box import AesGcmBox, derive_key, key_file
from adapters.sql_delivery_queue import PostgresDeliveryQueue, SQLiteDeliveryQueue
from adapters.sqlite_database import (
    make_sqlite_folder,
    plain_sqlite_path,
    prepare_sqlite_database,
)
from adapters.sqlite_views import SQLiteFleetView
from adapters.webhook_directory import ViewWebhookDirectory
from adapters.webhook_guard import SsrfGuard
from adapters.webhook_http import (
    MAX_ADDRESSES,
    HttpWebhookTransport,
    ViewWebhookTargets,
    check_webhook_secrets,
)
from adapters.work_doorbell import WorkDoorbell, merged
from application.admins import AdminProfile, Admins
from application.aliases import Aliases
from application.app_hosting import AppHosting
from application.apps import Apps
from application.clusters import Clusters
from application.commands import Commands
from application.container_telemetry import ContainerTelemetry
from application.counters import Counters
from application.deliveries import Deliverer, RetryPolicy
from application.delivery_retention import DeliveryRetention
from application.deployment_attempts import DeploymentAttempts
from application.deployment_telemetry import DeploymentTelemetry
from application.deployments import Deployments
from application.enrollment_keys import EnrollmentKeys
from application.environments import Environments
from application.event_log import EventAudit
from application.executions import Executions
from application.hosts import Hosts
from application.nodes import Nodes
from application.ports import (
    Clock,
    DeploymentFinder,
    EventPublisher,
    MessageSource,
    NodeMetricsBook,
    SecretBox,
)
from application.projects import Projects
from application.relay import Relay
from application.resource_health import ResourceHealth
from application.resources import Resources
from application.runtime_controls import RuntimeControls
from application.runtime_logs import RuntimeLogs
from application.self_updates import SelfUpdates
from application.ssh_access import SshAccess
from application.ssh_logins import FailureWindow, SshLogins
from application.store import EdgeStore
from application.unsealing import UnsealFailures
from application.webhooks import Webhooks
from application.write_path import WritePath
from domain.event_stream import StreamSettings
from entrypoints.settings import Settings, database_kind
from projections.command_reads import CommandReads
from projections.deployment_reads import DeploymentReads
from projections.fleet import FleetProjection
from projections.fleet_reads import FleetReads
from projections.fleet_tables import FLEET_TABLES, FLEET_VERSION
from projections.resource_health_reads import ResourceHealthReads
from projections.resource_reads import ResourceReads
from projections.runner import ProjectionWorker
from projections.ssh_reads import SshReads
from projections.status import ProjectionStuckError, ReadModelBehindError, StoreUnavailableError
from projections.versioning import Action, ReadModelBusyError
from projections.view import TableView
from projections.webhook_reads import WebhookReads

log = logging.getLogger(__name__)
ProjectorLock = AdvisoryLock | FileLock
# How long a start that must rebuild the read models waits for another process projecting
# into them (an admin of the earlier release still stopping) before it gives up.
REBUILD_LOCK_WAIT = 30.0
AnyDeliveryQueue = MemoryDeliveryQueue | PostgresDeliveryQueue | SQLiteDeliveryQueue


@dataclass
class Services:
    """Everything a process needs, built once per process from Settings."""

    settings: Settings
    store: EdgeStore
    view: TableView
    projector: ProjectionWorker
    writes: WritePath
    clusters: Clusters
    enrollment_keys: EnrollmentKeys
    nodes: Nodes
    aliases: Aliases
    webhooks: Webhooks
    commands: Commands
    executions: Executions
    self_updates: SelfUpdates
    ssh_access: SshAccess
    ssh_logins: SshLogins
    doorbell: WorkDoorbell
    relay: Relay
    counters: Counters
    admins: Admins
    node_metrics: NodeMetricsBook
    apps: Apps
    box: SecretBox  # seals secrets at rest (webhook secrets, deployment tokens, hidden env)
    hosts: Hosts
    telemetry: ContainerTelemetry
    event_audit: EventAudit  # reads the event log itself (GET /api/v1/events)
    deployments: Deployments
    deployment_finder: DeploymentFinder
    app_hosting: AppHosting
    deployment_telemetry: DeploymentTelemetry
    delivery_retention: DeliveryRetention  # deletes webhook deliveries past their age
    # Appaloft's hierarchy (issue 17): projects, environments, resources and their attempts.
    projects: Projects
    environments: Environments
    resources: Resources
    deployment_attempts: DeploymentAttempts
    runtime_controls: RuntimeControls
    runtime_logs: RuntimeLogs
    # The typed reads of each context (records, not rows): what handlers read instead of view.
    fleet_reads: FleetReads
    command_reads: CommandReads
    ssh_reads: SshReads
    webhook_reads: WebhookReads
    resource_reads: ResourceReads
    deployment_reads: DeploymentReads
    # Agents' observations of resources' health (reads) and their recording, live probes.
    resource_health_reads: ResourceHealthReads
    resource_health: ResourceHealth
    bus: InProcessBus | None = None
    intake: MessageSource | None = None  # webhook workers' intake with NATS (else the bus)
    listener: NotifyListener | None = None
    notices: NotifySender | None = None  # the work bell's NOTIFYs to other processes
    lock: ProjectorLock | None = None
    relay_lock: ProjectorLock | None = None
    deliveries: AnyDeliveryQueue | None = None
    deliverer: Deliverer | None = None
    scheduler_lock: ProjectorLock | None = None
    admin_lock: ProjectorLock | None = None  # held while this process acts as ADMIN_ID
    # The filling in of older events' message ids (None: memory://, nothing to fill), and who
    # may do it (one process at a time: entrypoints/workers/message_id_fill.py).
    message_id_fill: MessageIdFill | None = None
    fill_lock: ProjectorLock | None = None
    started_at: datetime | None = None  # silence counts only since (listening_since)
    # listening_since: the scheduler lock's sessions when last looked, and when one was opened
    # again (the database seen back).
    _lock_sessions: int | None = field(default=None, init=False, repr=False)
    _resumed_at: datetime | None = field(default=None, init=False, repr=False)
    # The position the read model had to reach at start (rebuilding_to, which readiness
    # clears), and when it was first seen there.
    _catching_up_to: int = field(default=0, init=False, repr=False)
    _caught_up_at: datetime | None = field(default=None, init=False, repr=False)
    default_cluster_ensured: bool = False
    rebuilding_to: int = 0  # the position the read model must reach at start to be ready
    upgraded: bool = False  # the read models were rebuilt at start for a new read-model version
    unsealing: UnsealFailures = field(default_factory=UnsealFailures)  # readiness, metrics

    def start(self) -> None:
        """Starts background work: the projector (unless another process runs it)."""
        self.started_at = self.writes.clock.now()
        self._catching_up_to = self.rebuilding_to
        if self.settings.run_projections:
            self.projector.start()
            self.listen()
        elif self.listener is not None:  # agents' long polls here still hear others' work
            self.listener.start()
        self.ensure_default_cluster()
        self.check_sealed()

    def on_duty(self) -> tuple[bool, datetime | None]:
        """Whether this process does the fleet's timed duties now (it holds the scheduler lock,
        or there is none to hold), and since when silence counts (`listening_since`). In that
        order: asking for the lock opens a dropped session again, which the other notices."""
        lock = self.scheduler_lock
        held = lock is None or lock.held()
        return held, self.listening_since()

    def listening_since(self) -> datetime | None:
        """Since when silence counts (a node's missed heartbeats, a start or a result not
        reported): this process's start, when the read model held the log again if it held
        less at start, or when the database was last seen back (None: not started, or still
        catching up). Meanwhile agents' reports were refused: when it came back every node
        looked silent, and the sweep marked them all unreachable, which failed the deployments
        they had not started yet."""
        started, back = self.started_at, self.database_back_at()
        if started is None:
            return None
        caught_up = self._caught_up()
        if caught_up is None:
            return None
        return max(started, caught_up, back or started)

    def _caught_up(self) -> datetime | None:
        """When the read model was first seen holding what the log held at start (None: not
        yet). Until then agents' reports of nodes it does not hold yet are refused (503), so a
        rebuild after an upgrade is silence no node is to blame for, like an outage."""
        if self._caught_up_at is None:
            if not self._catching_up_to:
                self._caught_up_at = self.started_at
            elif self.projector.applied() < self._catching_up_to:
                return None
            else:  # seen by the scheduler's passes (every second) and the sweeper's
                self._caught_up_at = self.writes.clock.now()
        return self._caught_up_at

    def database_back_at(self) -> datetime | None:
        """When this process's locks' session was last opened again after one dropped: the
        database was away, restarting or failing over (None: not since the start). Called by
        the sweeper, the scheduler and the membership pass after asking for the scheduler
        lock, which opens the session again when it dropped."""
        lock = self.scheduler_lock
        if lock is None:
            return None
        sessions = lock.sessions
        if self._lock_sessions is not None and sessions != self._lock_sessions:
            self._resumed_at = self.writes.clock.now()
        self._lock_sessions = sessions
        return self._resumed_at

    def listen(self) -> None:
        """Starts waking the projector and the relay on other processes' commits (PostgreSQL
        LISTEN); their polls then only catch a wake-up lost while the listener reconnects."""
        if self.listener is not None:
            self.listener.start()
            self.projector.poll_interval = self.relay.poll_interval = LISTENED_POLL_SECONDS

    def ensure_default_cluster(self) -> None:
        """Creates DEFAULT_CLUSTER_NAME unless done. A read model that cannot follow is not a
        reason to stay down (/readyz says why): the membership pass tries again."""
        name = self.settings.default_cluster_name
        if not name or self.default_cluster_ensured:
            return
        try:
            self.clusters.ensure(name)
        except (ProjectionStuckError, ReadModelBehindError, StoreUnavailableError,
                TimeoutError) as exc:
            log.warning("could not create the default cluster %s yet: %s", name, exc)
            return
        self.default_cluster_ensured = True

    def check_sealed(self) -> None:
        """A key missing from ENCRYPTION_KEY shows at start (logged, and in readiness), not at
        the next delivery; it never stops the start."""
        try:
            check_webhook_secrets(self.webhook_reads, self.box, self.unsealing)
        except Exception:  # e.g. the database is away: the check waits for a use
            log.warning("start-up check of sealed webhook secrets failed", exc_info=True)

    def close(self) -> None:
        self.writes.close()  # the batches under way are committed before the store closes
        if self.listener is not None:
            self.listener.stop()
        if self.notices is not None:
            self.notices.close()
        self.projector.stop()
        for lock in (self.lock, self.relay_lock, self.scheduler_lock, self.admin_lock,
                     self.fill_lock):
            if lock is not None:
                lock.release()  # the last one closes the locks' connection
        if self.deliveries is not None:
            self.deliveries.close()
        # On PostgreSQL these share the store's pool; closing a closed pool does nothing.
        for part in (self.relay.tracking, self.view):
            datastore = getattr(part, "datastore", None)
            if datastore is not None:
                datastore.close()
        self.store.close()
        close = getattr(self.view, "close", None)
        if close is not None:
            close()


def migrate_database(settings: Settings) -> MigrationReport | None:
    """The database as this release needs it (None for memory://, which keeps nothing). A
    database a newer release migrated is refused before anything is applied or opened
    (DatabaseTooNewError, ReadModelTooNewError): every command starts here."""
    kind = database_kind(settings.database_url)
    if kind == "memory":
        return None
    if kind == "postgres" and prepare_database(settings.postgres_conninfo(),
                                               settings.postgres_schema()):
        log.info("created schema %s", settings.postgres_schema())
    url = settings.database_url
    if kind == "sqlite":  # the file the store opens (its folder made if missing), absolute
        prepare_sqlite_database(settings.sqlite_path())
        path = os.path.abspath(settings.persistence_env("edge")["SQLITE_DBNAME"])
        url = "sqlite:////" + path.lstrip("/")  # POSIX keeps a leading "//"; yoyo cannot
    return migrate(url, read_model=FLEET_VERSION)


def build_view(settings: Settings, pool: PostgresDatastore | None = None) -> TableView:
    """The read models; on PostgreSQL in `pool` (the store's) when given."""
    kind = database_kind(settings.database_url)
    if kind == "memory":
        view = MemoryTableView(FLEET_TABLES)
        return view
    if pool is not None:
        return tracking_recorder(pool, "fleet", PostgresFleetView,
                                 read_pool_size=settings.read_pool_size())
    env = Environment("fleet", settings.persistence_env("fleet"))
    factory: Any = InfrastructureFactory.construct(env=env)
    view_class = PostgresFleetView if kind == "postgres" else SQLiteFleetView
    return factory.tracking_recorder(view_class)  # type: ignore[no-any-return]


def prepare_view(view: TableView, store: EdgeStore, lock: ProjectorLock | None,
                 wait: float = REBUILD_LOCK_WAIT) -> bool:
    """Rebuilds the read model if an older release built it (True when it did). Only once
    this process holds the projector's lock: an admin of the earlier release still running
    (or still stopping) projects under the same lock, and would record its position past the
    whole log while the rebuild starts from nothing. It is waited for up to `wait` s."""
    may_rebuild = lock.held if lock is not None else None
    deadline = time.monotonic() + wait
    for tries in itertools.count():
        try:
            action = view.prepare(store.name, FLEET_VERSION, may_rebuild)
            break
        except ReadModelBusyError:
            if time.monotonic() >= deadline:
                raise
            if tries == 0:
                log.warning("the read models must be rebuilt for read-model version %d, and "
                            "another process projects into them (an admin of the earlier "
                            "release?): waiting up to %.0f s for it to stop",
                            FLEET_VERSION.version, wait)
            time.sleep(min(1.0, wait))
    if action is not Action.REBUILD:
        return False
    head = store.recorder.max_notification_id() or 0
    log.warning("read models rebuilt for read-model version %d: replaying %d events from the "
                "log; /readyz answers 503 until they are in", FLEET_VERSION.version, head)
    return True


def catch_up_target(store: EdgeStore, projector: ProjectionWorker, upgraded: bool,
                    projects: bool = True) -> int:
    """The log position the read model must reach before this process is ready: the log's head
    when the read model holds less at start, else 0. After an upgrade's rebuild it holds
    nothing; after a start killed mid-rebuild, or a killed `replay`, it holds part of the log
    while the version row already says it is current, and only this tells the two apart.

    A process that does not project (`serve --no-projections`) waits the same way for the one
    that does: started while that one rebuilds, its writes were decided on part of the log."""
    head = store.recorder.max_notification_id() or 0
    held = projector.applied()
    if held >= head:
        return 0
    if not projects:
        log.warning("the read models hold %d of %d events: waiting for the process that "
                    "projects them to catch up; /readyz answers 503 and writes 503 until they "
                    "are in", held, head)
    elif not upgraded:
        log.warning("the read models hold %d of %d events (a rebuild or a replay was "
                    "interrupted, or another process wrote without them): catching up; /readyz "
                    "answers 503 until they are in", held, head)
    return head


def build_lock_session(settings: Settings) -> LockSession | None:
    """The one connection that holds this process's advisory locks (PostgreSQL only); it
    connects when a lock is first asked for."""
    if database_kind(settings.database_url) != "postgres":
        return None
    return LockSession(settings.postgres_conninfo(), settings.postgres_application_name("locks"))


def build_lock(
    settings: Settings, role: str, session: LockSession | None = None
) -> ProjectorLock | None:
    """Who may do `role` (project, relay) for this database: one process at a time.

    On PostgreSQL the lock is named by the role and the schema of our tables (advisory locks
    belong to one database already). It was named by DATABASE_URL's text, so two processes
    reaching one database by two spellings (`localhost` and `127.0.0.1`, another parameter)
    both led: two relays publishing every event, two schedulers, two admins of one ADMIN_ID.
    The old name is held as well, so a process of an earlier release still excludes this one
    (an upgrade waits for its projector)."""
    kind = database_kind(settings.database_url)
    if kind == "postgres":
        session = session or build_lock_session(settings)
        assert session is not None
        return AdvisoryLock(session, f"{role}@{settings.postgres_schema() or 'public'}",
                            f"{role}:{settings.database_url}")
    if kind == "sqlite":
        return FileLock(settings.persistence_env(role)["SQLITE_DBNAME"] + f".{role}.lock")
    return None


def build_relay_tracking(
    settings: Settings, name: str, pool: PostgresDatastore | None = None
) -> MemoryRelayTracking | PostgresRelayTracking | SQLiteRelayTracking:
    """Where the relay records how far it has published (on PostgreSQL without waiting for
    the flush: adapters/pg_datastore.RelayTrackingRecorder), and with it the message ids of
    what it published (adapters/event_message_ids.py)."""
    kind = database_kind(settings.database_url)
    if kind == "memory":
        return MemoryRelayTracking()
    if pool is not None:
        return tracking_recorder(pool, name, PostgresRelayTracking)
    env = Environment(name, settings.persistence_env(name))
    factory: Any = InfrastructureFactory.construct(env=env)
    recorder: PostgresRelayTracking | SQLiteRelayTracking = factory.tracking_recorder(
        PostgresRelayTracking if kind == "postgres" else SQLiteRelayTracking)
    return recorder


# Hot aggregates (a cluster, an enrollment key) are kept decoded between commands; each use
# still reads the events saved since (other processes write too) and gets its own copy.
STORE_CACHE = {"AGGREGATE_CACHE_MAXSIZE": "10000"}
GEO = BundledGeoLocator()  # one per process: its data takes half a second to load
RELAY_SETTLE_SECONDS = 2.0  # how long the relay lets the read models go first, at most
# How often the projector and the relay look at the log unasked where every commit wakes them
# (this process's through the write path, others' through LISTEN): only to catch a wake-up
# lost while the listener reconnects. Polling every 50 ms was most of an idle admin's queries.
LISTENED_POLL_SECONDS = 1.0
MAX_CHANNEL = 63  # PostgreSQL NAMEDATALEN - 1


def build_relay(
    settings: Settings, store: EdgeStore, projector: ProjectionWorker,
    locks: LockSession | None = None,
) -> tuple[Relay, InProcessBus | None, Any]:
    bus = None if settings.nats_url else InProcessBus()
    publisher: EventPublisher = bus or JetStreamPublisher(
        settings.nats_url, StreamSettings(settings.nats_stream, settings.nats_subject_prefix)
    )
    lock = build_lock(settings, "relay", locks)
    relay = Relay(store, publisher, build_relay_tracking(settings, "relay", store_pool(store)),
                  leader=lock.held if lock is not None else None,
                  # Only a projector in this process is waited for: elsewhere, none may run.
                  settled=partial(_settle, projector) if settings.run_projections else None)
    return relay, bus, lock


def indexed_through(settings: Settings, relay: Relay) -> Callable[[], int]:
    """Up to where the index of message ids holds every public event: the relay's recorded
    position, which it writes with the entries (memory:// keeps no index: nothing)."""
    if database_kind(settings.database_url) == "memory":
        return lambda: 0
    return relay.recorded_position


def build_intake(settings: Settings) -> MessageSource | None:
    if not settings.nats_url:
        return None
    stream = StreamSettings(settings.nats_stream, settings.nats_subject_prefix)
    return JetStreamConsumer(settings.nats_url, stream)


def _settle(projector: ProjectionWorker, position: int) -> None:
    """The relay lets the read models go first, but never waits on a stuck one: the events are
    recorded and subscribers must hear of them all the same."""
    try:
        projector.wait(position, timeout=RELAY_SETTLE_SECONDS)
    except ProjectionStuckError:
        pass


def build_box(settings: Settings) -> AesGcmBox:
    """The key ring for secrets at rest. ENCRYPTION_KEY's first key seals, else a random key
    kept with the data (SQLite: a file beside it; PostgreSQL: a table; memory: this process's).
    Every other key only opens: the rest of ENCRYPTION_KEY, the stored key once ENCRYPTION_KEY
    is set, and what earlier releases sealed with (ENCRYPTION_KEY read whole, commas and all;
    keys derived from MASTER_KEY and API_KEY). Sealing never depends on the API keys."""
    configured = [derive_key(k) for k in settings.encryption_keys()]
    stored = _stored_key(settings, create=not configured)
    if not configured and stored is None:
        stored = secrets.token_bytes(32)  # memory://: nothing outlives the process anyway
    ring = configured + ([stored] if stored is not None else [])
    whole = settings.encryption_key
    earlier = [whole] if whole and settings.encryption_keys() != (whole,) else []
    earlier += [] if settings.generated_api_key else list(settings.api_keys())
    return AesGcmBox(ring[0], ring[1:] + [derive_key(m) for m in earlier])


def _stored_key(settings: Settings, create: bool) -> bytes | None:
    kind = database_kind(settings.database_url)
    if kind == "sqlite":
        return key_file(settings.persistence_env("edge")["SQLITE_DBNAME"] + ".key", create)
    if kind != "postgres":
        return None
    key = database_key(settings.postgres_conninfo(),
                       settings.persistence_env("edge")["POSTGRES_SCHEMA"], create)
    if create:
        log.warning("ENCRYPTION_KEY is not set: secrets at rest are sealed with a random key "
                    "kept in the database (table %s); set ENCRYPTION_KEY to protect them from "
                    "whoever can read the database", PG_KEY_TABLE)
    return key


def build_delivery_queue(
    settings: Settings, clock: Clock, pool: PostgresDatastore | None = None
) -> AnyDeliveryQueue:
    """Webhook deliveries live in the store's database (memory:// keeps them in memory); on
    PostgreSQL in `pool` (the store's) when given, else in a pool of their own."""
    kind = database_kind(settings.database_url)
    if kind == "memory":
        return MemoryDeliveryQueue(clock)
    env = settings.persistence_env("webhooks")
    if kind == "sqlite":
        return SQLiteDeliveryQueue(env["SQLITE_DBNAME"], clock)
    if pool is not None:
        return PostgresDeliveryQueue(pool, clock)
    factory: Any = InfrastructureFactory.construct(env=Environment("webhooks", env))
    return PostgresDeliveryQueue(factory.datastore, clock, owned=True)


def store_pool(store: EdgeStore) -> PostgresDatastore | None:
    """The store's PostgreSQL pool, which the read models, the relay's tracking and the
    deliveries share (one database: one pool per process)."""
    datastore = getattr(store.factory, "datastore", None)
    return datastore if isinstance(datastore, PostgresDatastore) else None


def build_deliverer(  # noqa: PLR0913
    settings: Settings, queue: AnyDeliveryQueue, view: TableView, box: AesGcmBox, clock: Clock,
    projected: Callable[[], int], unsealing: UnsealFailures | None = None,
) -> Deliverer:
    transport = HttpWebhookTransport(SsrfGuard(settings.webhook_allow_private_ips),
                                     settings.webhook_timeout)
    # A lease must outlast the slowest attempt (every pinned address timing out) or a second
    # worker would send the same delivery while the first is still waiting.
    lease = MAX_ADDRESSES * settings.webhook_timeout + 5
    targets = ViewWebhookTargets(view, WebhookReads(view), box, unsealing=unsealing)
    return Deliverer(queue, transport, targets, clock,
                     RetryPolicy(max_attempts=settings.webhook_max_attempts), lease_seconds=lease,
                     projected=projected)


def build_admins(
    settings: Settings, writes: WritePath, view: TableView, counters: Counters
) -> Admins:
    directory = ViewAdminDirectory(view, FleetReads(view))
    me = AdminProfile(settings.effective_admin_id, settings.admin_cluster_name,
                      settings.admin_max_peers, settings.advertised_url)
    return Admins(writes, directory, directory, counters, me,
                  timedelta(seconds=settings.admin_offline_after))


def project_in_commit(store: EdgeStore, view: TableView, projector: ProjectionWorker) -> None:
    """On PostgreSQL, saves apply their read-model changes in their own transaction
    (adapters.pg_commit_projection); the projector still tails the log for the rest."""
    recorder = store.recorder
    if isinstance(recorder, CopyApplicationRecorder) and isinstance(view, PostgresTableView):
        recorder.in_commit = CommitProjection(view, store.name, FleetProjection.changes,
                                              projector.applied_in_commit)


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    """Raises DatabaseUnavailableError (one line: what is wrong with DATABASE_URL) before any
    pool tries; creates the `?schema=` DATABASE_URL names if it is missing, and applies the
    pending migrations (adapters/migrate.py). On PostgreSQL, processes starting together make
    their tables one at a time."""
    with starting_alone(settings):
        migrate_database(settings)
        with making_tables(settings):
            return _build_services(settings, clock)


def starting_alone(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """SQLite: held from a process's first look at the file to its tables made, so processes
    starting together on one file go one at a time. Making only the tables one at a time
    was not enough: one of three `projections status` started together on a new file died
    about one time in forty with "database is locked", SQLite's answer without waiting when
    the store's first connection turns the file to WAL, or a transaction that read writes,
    while another process migrates or checks the file. (PostgreSQL: making_tables.)"""
    if database_kind(settings.database_url) != "sqlite":
        return contextlib.nullcontext()
    database = settings.persistence_env("edge")["SQLITE_DBNAME"]
    if database == ":memory:" or "mode=memory" in database:
        return contextlib.nullcontext()
    make_sqlite_folder(settings.sqlite_path())  # the lock's file lives beside the database
    lock = database + ".tables-lock"
    try:
        open(lock, "a").close()  # only whether it can be made
    except OSError as exc:
        shown = plain_sqlite_path(database)
        raise DatabaseUnavailableError(
            f"cannot use {shown} as an SQLite database: cannot write {shown}.tables-lock"
            f" beside it ({exc.strerror})") from None
    return held_alone(lock)


def making_tables(settings: Settings) -> contextlib.AbstractContextManager[None]:
    """Held while a process makes the tables it needs (IF NOT EXISTS is no guard against the
    same statement in a process starting beside it). PostgreSQL only: an SQLite start holds
    starting_alone throughout; a PostgreSQL one does not hold this while it migrates, since a
    session waiting for it would hold a snapshot that a concurrent index build (a
    non-transactional migration) waits for."""
    if database_kind(settings.database_url) == "postgres":
        return making_tables_alone(settings.postgres_conninfo(), settings.postgres_schema())
    return contextlib.nullcontext()


def _build_services(settings: Settings, clock: Clock | None) -> Services:
    store = EdgeStore(env={**settings.persistence_env("edge"), **STORE_CACHE})
    # Events saved before the index of their ids existed: where their filling ends is
    # recorded now, the filling itself is a serving process's background work.
    fill = message_id_fill(store.recorder, settings.message_id_fill_chunk)
    if fill is not None:
        fill.begin()
    view = build_view(settings, store_pool(store))
    locks = build_lock_session(settings)
    lock = build_lock(settings, "projector", locks)
    upgraded = prepare_view(view, store, lock)
    if upgraded and lock is not None and not settings.run_projections:
        lock.release()  # the rebuild is another process's to do
    projector = ProjectionWorker(
        FleetProjection(view), store.recorder, FastMapper(store.mapper), store.name,
        leader=lock.held if lock is not None else None,
    )
    # Only where this process keeps the read model: with RUN_PROJECTIONS=false (serve
    # --no-projections, replay, the relay) another process owns it and nothing here writes it.
    if settings.write_project_in_commit and settings.run_projections:
        project_in_commit(store, view, projector)
    relay, bus, relay_lock = build_relay(settings, store, projector, locks)
    listener, notices, doorbell = None, None, WorkDoorbell()
    datastore = store_pool(store)
    if datastore is not None:
        # Writers in other processes commit too: their NOTIFY wakes these workers at once.
        channel = store.recorder.channel_name  # type: ignore[attr-defined]
        own: set[int] = getattr(store.recorder, "backends", set())

        # And they record work for agents whose long polls wait here: a commit's notice names
        # the nodes it gave work (its payload, EdgeStore.save's `notices`); work recorded
        # otherwise rings on a channel of its own (adapters/work_doorbell.py).
        def wake_all(pid: int, payload: str) -> None:
            if pid not in own:  # own commits reach both through the write path
                projector.wake()
                relay.wake()
            if payload:  # the bell knows its own process's notices from others'
                doorbell.heard(pid, payload)

        work_channel = f"{channel}_work"
        if len(work_channel) > MAX_CHANNEL:  # PostgreSQL's identifiers: a longer one fails
            work_channel = "edge_work_" + hashlib.sha256(channel.encode()).hexdigest()[:32]
        notices = NotifySender(datastore, work_channel, merge=merged)
        doorbell = WorkDoorbell(notices.send)
        listener = NotifyListener(settings.postgres_conninfo(),
                                  {channel: wake_all, work_channel: doorbell.heard},
                                  settings.postgres_application_name("listen"))
    clock = clock or SystemClock()
    writes = WritePath(store, clock, projector, observers=[relay.wake],
                       group_commit=settings.write_group_commit, work=doorbell)
    box, deliveries = build_box(settings), build_delivery_queue(settings, clock, store_pool(store))
    unsealing = UnsealFailures()
    fleet_reads, command_reads, ssh_reads = FleetReads(view), CommandReads(view), SshReads(view)
    webhook_reads = WebhookReads(view)
    targets = ViewTargetFinder(view)
    index = ViewExecutionIndex(command_reads)
    hasher = Argon2Hasher()
    failures = FailureWindow(settings.ssh_login_max_failures,
                             timedelta(seconds=settings.ssh_login_window))
    counters = Counters()
    placement = ViewPlacementIndex(view, settings.placement_snapshot)
    finder, reports = ViewDeploymentFinder(view), ViewNodeReports(view)
    deployments = Deployments(writes, GEO, placement, settings.advertised_url,
                              SsrfGuard(settings.webhook_allow_private_ips), box, finder,
                              unsealing)
    rebuilding_to = catch_up_target(store, projector, upgraded, settings.run_projections)
    projector.catching_up_to = rebuilding_to  # writes wait for the whole backlog
    return Services(
        settings=settings,
        store=store,
        view=view,
        projector=projector,
        writes=writes,
        clusters=Clusters(writes),
        enrollment_keys=EnrollmentKeys(
            writes, settings.advertised_url, settings.default_cluster_name or None,
            settings.public_enrollment_key_enabled,
        ),
        nodes=Nodes(writes, ViewLiveness(view, fleet_reads), index, deployments),
        aliases=Aliases(writes),
        webhooks=Webhooks(
            writes, box, SsrfGuard(settings.webhook_allow_private_ips),
            ViewWebhookDirectory(view, webhook_reads, projector.applied), deliveries,
        ),
        commands=Commands(writes, targets),
        executions=Executions(writes, index),
        self_updates=SelfUpdates(writes, targets, index),
        ssh_access=SshAccess(writes, hasher),
        ssh_logins=SshLogins(writes, ViewSshCredentials(ssh_reads), hasher, failures),
        doorbell=doorbell,
        relay=relay,
        counters=counters,
        admins=build_admins(settings, writes, view, counters),
        node_metrics=ViewNodeMetrics(view),
        apps=Apps(writes, box),
        box=box,
        hosts=Hosts(writes, reports, finder),
        telemetry=ContainerTelemetry(finder, reports, clock),
        event_audit=EventAudit(event_log_for(store.recorder), store.mapper,
                               indexed_through=indexed_through(settings, relay),
                               filled=fill.progress if fill is not None else lambda: (0, 0)),
        deployments=deployments,
        deployment_finder=finder,
        app_hosting=AppHosting(deployments, placement),
        deployment_telemetry=DeploymentTelemetry(ViewDeploymentTelemetry(view), clock),
        delivery_retention=DeliveryRetention(deliveries, clock),
        projects=Projects(writes, ResourceReads(view)),
        environments=Environments(writes, box),
        resources=Resources(writes, box),
        runtime_controls=RuntimeControls(writes, finder),
        runtime_logs=RuntimeLogs(finder, ViewRuntimeLogStore(view), box, clock),
        deployment_attempts=DeploymentAttempts(deployments),
        fleet_reads=fleet_reads,
        command_reads=command_reads,
        ssh_reads=ssh_reads,
        webhook_reads=webhook_reads,
        resource_reads=ResourceReads(view),
        deployment_reads=DeploymentReads(view),
        resource_health_reads=ResourceHealthReads(view),
        resource_health=ResourceHealth(ViewHealthObservations(view), finder, doorbell, clock),
        bus=bus,
        intake=build_intake(settings),
        listener=listener,
        notices=notices,
        lock=lock,
        relay_lock=relay_lock,
        deliveries=deliveries,
        deliverer=build_deliverer(settings, deliveries, view, box, clock, projector.applied,
                                  unsealing),
        scheduler_lock=build_lock(settings, "scheduler", locks),
        admin_lock=build_lock(settings, f"admin-{settings.effective_admin_id}", locks),
        message_id_fill=fill,
        fill_lock=build_lock(settings, "message-id-fill", locks),
        rebuilding_to=rebuilding_to,
        upgraded=upgraded,
        unsealing=unsealing,
    )
