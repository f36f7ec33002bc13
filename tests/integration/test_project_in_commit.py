"""WRITE_PROJECT_IN_COMMIT on PostgreSQL: a save applies its read-model rows and tracking
position in its own transaction, only when that keeps log order; otherwise (another process
saved without it, a handler or the database refuses the changes) the tailing projector applies
the events as before, and skips what writers' transactions already tracked."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from application.clusters import CreateCluster, UpdateCluster
from domain.cluster import Cluster
from entrypoints.bootstrap import Services, build_services
from projections import fleet
from projections.model import Change, Upsert
from projections.status import ProjectionStuckError
from tests.conftest import make_settings

pytestmark = pytest.mark.integration

HANDLERS: dict[Any, Any] = fleet.HANDLERS  # keyed by event classes made at class creation


def started(url: str, **overrides: object) -> Services:
    services = build_services(make_settings(url, **overrides))
    services.start()
    return services


def head(services: Services) -> int:
    return services.store.recorder.max_notification_id() or 0


def in_commit_batches(services: Services) -> int:
    return int(services.store.recorder.in_commit.batches)  # type: ignore[attr-defined]


def test_a_write_is_projected_in_its_own_transaction(pg_url: str) -> None:
    services = started(pg_url)
    try:
        services.clusters.create(CreateCluster(name="one"))
        services.clusters.update("one", UpdateCluster(node_limit=7))
        assert in_commit_batches(services) == 2
        assert services.projector.in_commit == 2
        # Answered without waiting: the rows and the position were committed with the events.
        assert services.view.max_tracking_id(services.store.name) == head(services)
        assert services.view.select("clusters", {"name": "one"})[0]["node_limit"] == 7
        assert services.projector.failure is None
    finally:
        services.close()


def test_the_setting_off_leaves_it_to_the_projector(pg_url: str) -> None:
    services = started(pg_url, write_project_in_commit=False)
    try:
        services.clusters.create(CreateCluster(name="one"))
        assert services.store.recorder.in_commit is None  # type: ignore[attr-defined]
        assert services.projector.in_commit == 0 and services.projector.processed >= 1
        assert services.view.select("clusters", {"name": "one"})
    finally:
        services.close()


def test_mixed_processes_keep_log_order(pg_url: str) -> None:
    """Two processes patch one row in turns, one projecting in its commits and one leaving it
    to the projector: the row ends with the last write, and nothing is applied twice."""
    inline = started(pg_url)  # starts first: it leads the projection
    other = started(pg_url, write_project_in_commit=False)
    try:
        inline.clusters.create(CreateCluster(name="shared"))
        errors: list[BaseException] = []

        def patch(services: Services, limits: range) -> None:
            try:
                for limit in limits:
                    services.clusters.update("shared", UpdateCluster(node_limit=limit))
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        writers = [threading.Thread(target=patch, args=(inline, range(1, 200, 2))),
                   threading.Thread(target=patch, args=(other, range(2, 200, 2)))]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        assert not errors
        inline.clusters.update("shared", UpdateCluster(node_limit=1000))
        assert inline.view.select("clusters", {"name": "shared"})[0]["node_limit"] == 1000
        assert inline.projector.failure is None and inline.projector.failed_attempts == 0
        assert inline.view.max_tracking_id(inline.store.name) == head(inline)
        assert in_commit_batches(inline) >= 2  # at least the first and the last write
    finally:
        other.close()
        inline.close()


def test_events_another_process_applied_in_its_commits_are_skipped(pg_url: str) -> None:
    leader = started(pg_url)
    writer = started(pg_url)  # not the projection's leader; its saves project themselves
    try:
        assert leader.lock is not None and leader.lock.held()
        for i in range(20):
            writer.clusters.create(CreateCluster(name=f"c{i}"))
        assert in_commit_batches(writer) == 20
        leader.projector.wait(head(leader), timeout=10)
        assert leader.projector.failure is None and leader.projector.failed_attempts == 0
        assert len(leader.view.select("clusters", {})) == 20
    finally:
        writer.close()
        leader.close()


def test_changes_the_database_refuses_are_left_to_the_projector(
    pg_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The insert transaction is done again without them: the events are recorded, and the
    projector reports the failure where it always did; once fixed, it resumes."""
    services = started(pg_url)
    try:
        services.clusters.create(CreateCluster(name="before"))
        applied = in_commit_batches(services)

        def out_of_range(event: Any) -> list[Change]:
            return [Upsert("clusters", {"id": event.originator_id, "name": event.name,
                                        "node_limit": 2**70, "node_count": 0,
                                        "inserted_at": event.at, "updated_at": event.at})]

        monkeypatch.setitem(HANDLERS, Cluster.Created, out_of_range)
        with pytest.raises(ProjectionStuckError):
            services.clusters.create(CreateCluster(name="refused"))
        assert in_commit_batches(services) == applied
        failure = services.projector.failure
        assert failure is not None and failure.notification_id <= head(services)
        assert "Cluster.Created" in failure.describe()
        monkeypatch.undo()  # the projector's next attempt applies it
        deadline = time.monotonic() + 15
        while services.projector.failure is not None:
            assert time.monotonic() < deadline, "the projector never resumed"
            time.sleep(0.05)
        services.clusters.create(CreateCluster(name="after"))
        names = {r["name"] for r in services.view.select("clusters", {})}
        assert {"before", "refused", "after"} <= names
    finally:
        services.close()
