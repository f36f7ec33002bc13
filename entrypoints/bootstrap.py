"""The only place that constructs adapters and wires them into the application services."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from adapters.file_lock import FileLock
from adapters.liveness import SystemClock, ViewLiveness
from adapters.memory_views import MemoryTableView
from adapters.pg_lock import AdvisoryLock
from adapters.pg_notify import NotifyListener
from adapters.postgres_views import PostgresFleetView
from adapters.sqlite_views import SQLiteFleetView
from application.aliases import Aliases
from application.clusters import Clusters
from application.enrollment_keys import EnrollmentKeys
from application.nodes import Nodes
from application.ports import Clock
from application.store import EdgeStore
from application.write_path import WritePath
from entrypoints.settings import Settings, database_kind
from projections.fleet import FleetProjection
from projections.fleet_tables import FLEET_TABLES
from projections.runner import ProjectionWorker
from projections.view import TableView

log = logging.getLogger(__name__)
ProjectorLock = AdvisoryLock | FileLock


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
    listener: NotifyListener | None = None
    lock: ProjectorLock | None = None

    def start(self) -> None:
        """Starts background work: the projector (unless another process runs it)."""
        if self.settings.run_projections:
            self.projector.start()
            if self.listener is not None:
                self.listener.start()
        if self.settings.default_cluster_name:
            self.clusters.ensure(self.settings.default_cluster_name)

    def close(self) -> None:
        if self.listener is not None and self.settings.run_projections:
            self.listener.stop()
        self.projector.stop()
        if self.lock is not None:
            self.lock.release()
        datastore = getattr(self.view, "datastore", None)
        if datastore is not None:
            datastore.close()
        self.store.close()
        close = getattr(self.view, "close", None)
        if close is not None:
            close()


def build_view(settings: Settings) -> TableView:
    kind = database_kind(settings.database_url)
    if kind == "memory":
        view = MemoryTableView(FLEET_TABLES)
        return view
    env = Environment("fleet", settings.persistence_env("fleet"))
    factory: Any = InfrastructureFactory.construct(env=env)
    view_class = PostgresFleetView if kind == "postgres" else SQLiteFleetView
    return factory.tracking_recorder(view_class)  # type: ignore[no-any-return]


def build_lock(settings: Settings) -> ProjectorLock | None:
    """Who may apply events to the read models: one process per database."""
    kind = database_kind(settings.database_url)
    if kind == "postgres":
        name = f"projector:{settings.database_url}:fleet"
        return AdvisoryLock(settings.postgres_conninfo(), name)
    if kind == "sqlite":
        return FileLock(settings.persistence_env("fleet")["SQLITE_DBNAME"] + ".projector.lock")
    return None


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    store = EdgeStore(env=settings.persistence_env("edge"))
    view = build_view(settings)
    lock = build_lock(settings)
    leader = lock.held if lock is not None else None
    listener = None
    projector = ProjectionWorker(
        FleetProjection(view), store.recorder, store.mapper, store.name,
        leader=leader,
    )
    if database_kind(settings.database_url) == "postgres":
        # Writers in other processes commit too: their NOTIFY wakes this projector at once.
        channel = store.recorder.channel_name  # type: ignore[attr-defined]
        listener = NotifyListener(settings.postgres_conninfo(), channel, projector.wake)
    writes = WritePath(store, clock or SystemClock(), projector)
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
        nodes=Nodes(writes, ViewLiveness(view)),
        aliases=Aliases(writes),
        listener=listener,
        lock=lock,
    )
