"""Uniqueness and counting rules under concurrent writers on real PostgreSQL.

Every race runs with one shared Services (threads of one process, which WritePath serialises)
and with two Services on the same database (two processes, which collide on aggregate versions
and must retry).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID, uuid4

import pytest

from application.agent_protocol import EnrollNode
from application.aliases import CreateAlias
from application.clusters import CreateCluster
from application.enrollment_keys import IssueEnrollmentKey
from application.environments import CreateEnvironment
from application.errors import NotFoundError
from application.projects import (
    ArchiveProject,
    CreateProject,
    DeleteProject,
    ProjectConfirmation,
)
from application.resources import CreateResource
from domain.claims import NameTakenError
from domain.cluster import ClusterFullError
from domain.enrollment_key import KeyRefusedError
from domain.environment import Environment
from domain.project import ProjectActiveError, ProjectArchivedError, ProjectNotEmptyError
from entrypoints.bootstrap import Services, build_services
from tests.conftest import make_settings

pytestmark = pytest.mark.integration
T = TypeVar("T")

def must_get(services: Services, table: str, key: object) -> dict[str, Any]:
    """A read-model row that must exist (the write returned, so the view has it)."""
    found = services.view.get(table, key)
    assert found is not None, f"{table} {key} is missing from the read model"
    return found


def shut(services: Services) -> None:
    services.close()
    # Services.close() leaves the SQL view's connection pool open; close it ourselves.
    datastore = getattr(services.view, "datastore", None)
    if datastore is not None:
        datastore.close()


@contextmanager
def running(url: str, processes: int) -> Iterator[list[Services]]:
    started: list[Services] = []
    try:
        for _ in range(processes):
            services = build_services(make_settings(url))
            started.append(services)
            services.start()
        yield started
    finally:
        for services in started:
            shut(services)


@pytest.fixture(params=[1, 2], ids=["one-process", "two-processes"])
def fleet(request: pytest.FixtureRequest, pg_url: str) -> Iterator[list[Services]]:
    with running(pg_url, request.param) as services:
        yield services


def race(fleet: list[Services], count: int, call: Callable[[Services, int], T]) -> list[Any]:
    """Runs call(services, i) on `count` threads released together; returns results or errors."""
    barrier = threading.Barrier(count)

    def one(i: int) -> Any:
        barrier.wait()
        try:
            return call(fleet[i % len(fleet)], i)
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def kinds(outcomes: list[Any]) -> Counter[str]:
    return Counter(type(o).__name__ if isinstance(o, Exception) else "ok" for o in outcomes)


def key_blob(services: Services, cluster: str, **kw: Any) -> tuple[UUID, str]:
    key_id = services.enrollment_keys.issue(cluster, IssueEnrollmentKey(**kw))
    return key_id, must_get(services, "enrollment_keys", key_id)["key"]


def test_key_with_n_uses_admits_exactly_n(fleet: list[Services]) -> None:
    main = fleet[0]
    name = "c" + uuid4().hex[:10]
    cid = main.clusters.create(CreateCluster(name=name))
    key_id, blob = key_blob(main, name, uses_remaining=5)
    outcomes = race(fleet, 20, lambda s, _: s.nodes.enroll(EnrollNode(enrollment_key=blob)))
    assert kinds(outcomes) == {"ok": 5, "KeyRefusedError": 15}, outcomes
    assert all(isinstance(o, KeyRefusedError) for o in outcomes if isinstance(o, Exception))
    assert main.store.repository.get(key_id).uses_remaining == 0
    main.projector.wait(main.store.recorder.max_notification_id() or 0)
    assert must_get(main, "enrollment_keys", key_id)["uses_remaining"] == 0
    assert must_get(main, "clusters", cid)["node_count"] == 5
    assert len(main.view.select("nodes", {"cluster_id": cid})) == 5


def test_one_cluster_name_is_created_once(fleet: list[Services]) -> None:
    name = "c" + uuid4().hex[:10]
    outcomes = race(fleet, 10, lambda s, _: s.clusters.create(CreateCluster(name=name)))
    assert kinds(outcomes) == {"ok": 1, "NameTakenError": 9}, outcomes
    (winner,) = [o for o in outcomes if not isinstance(o, Exception)]
    main = fleet[0]
    main.projector.wait(main.store.recorder.max_notification_id() or 0)
    assert [r["id"] for r in main.view.select("clusters", {"name": name})] == [winner]


def test_distinct_clusters_get_disjoint_ranges(fleet: list[Services]) -> None:
    prefix = "c" + uuid4().hex[:8]
    outcomes = race(fleet, 8, lambda s, i: s.clusters.create(CreateCluster(name=f"{prefix}-{i}")))
    assert kinds(outcomes) == {"ok": 8}, outcomes
    main = fleet[0]
    main.projector.wait(main.store.recorder.max_notification_id() or 0)
    ranges = [must_get(main, "clusters", cid)["ipv4_range"] for cid in outcomes]
    assert len(set(ranges)) == 8


def test_one_alias_name_per_cluster_under_contention(fleet: list[Services]) -> None:
    main = fleet[0]
    name = "c" + uuid4().hex[:10]
    main.clusters.create(CreateCluster(name=name))
    _, blob = key_blob(main, name, uses_remaining=None)
    nodes = [main.nodes.enroll(EnrollNode(enrollment_key=blob)).node_id for _ in range(8)]
    outcomes = race(fleet, 8, lambda s, i: s.aliases.create(nodes[i], CreateAlias(name="web")))
    assert kinds(outcomes) == {"ok": 1, "NameTakenError": 7}, outcomes
    assert all(isinstance(o, NameTakenError) for o in outcomes if isinstance(o, Exception))
    main.projector.wait(main.store.recorder.max_notification_id() or 0)
    (row,) = main.view.select("aliases", {"name": "web"})
    # Only the winning node records the alias: losers left no half-written attachment.
    holders = [n for n in nodes if main.store.repository.get(n).alias_ids]
    assert holders == [row["node_id"]]


def test_node_limit_holds_under_concurrent_enrollment(fleet: list[Services]) -> None:
    main = fleet[0]
    name = "c" + uuid4().hex[:10]
    cid = main.clusters.create(CreateCluster(name=name, node_limit=3))
    key_id, blob = key_blob(main, name, uses_remaining=None)
    outcomes = race(fleet, 10, lambda s, _: s.nodes.enroll(EnrollNode(enrollment_key=blob)))
    assert kinds(outcomes) == {"ok": 3, "ClusterFullError": 7}, outcomes
    assert all(isinstance(o, ClusterFullError) for o in outcomes if isinstance(o, Exception))
    assert main.store.repository.get(cid).node_count == 3
    main.projector.wait(main.store.recorder.max_notification_id() or 0)
    assert must_get(main, "clusters", cid)["node_count"] == 3
    assert len(main.view.select("nodes", {"cluster_id": cid})) == 3
    assert must_get(main, "enrollment_keys", key_id)["uses_remaining"] is None



# What a round creates in the project while it is archived and deleted: (services, project,
# its environment) -> the create's answer.
Create = Callable[[Services, UUID, UUID], Any]


def create_resource(services: Services, project: UUID, environment: UUID) -> Any:
    return services.resources.create(CreateResource(
        project_id=project, environment_id=environment, name="web"))


def create_environment(services: Services, project: UUID, _environment: UUID) -> Any:
    return services.environments.create(CreateEnvironment(project_id=project, name="staging"))


def create_archive_delete(fleet: list[Services], create: Create) -> tuple[Any, Any]:
    """One round: something created in a new project while the project is archived and then
    deleted; answers what the create and the delete got."""
    first = fleet[0]
    project = first.projects.create(CreateProject(name=f"p-{uuid4().hex[:8]}"))
    environment = first.environments.create(CreateEnvironment(project_id=project,
                                                              name="production"))

    def step(services: Services, i: int) -> Any:
        if i == 0:
            return create(services, project, environment)
        if i == 1:
            return services.projects.archive(project, ArchiveProject())
        time.sleep(0.002)  # after the archive: a delete needs an archived project
        return services.projects.delete(project, DeleteProject(
            confirmation=ProjectConfirmation(project_id=project)))

    created, _, deleted = race(fleet, 3, step)
    return created, deleted


def test_a_project_deleted_while_a_resource_is_created_in_it_keeps_none(
        fleet: list[Services]) -> None:
    """Create a resource, archive its project and delete it, all at once: the create read the
    project active and the delete read no resource, so both answered and the resource lived
    on in a deleted project (22 runs of 40 through HTTP). Now the create writes the project,
    so one of them refuses."""
    both = 0
    for _ in range(15):
        created, deleted = create_archive_delete(fleet, create_resource)
        if isinstance(created, UUID) and isinstance(deleted, UUID):
            both += 1
        elif isinstance(created, UUID):
            assert isinstance(deleted, (ProjectNotEmptyError, ProjectActiveError)), deleted
    assert both == 0, f"{both} of 15 resources outlived their deleted project"


def test_a_project_deleted_while_an_environment_is_created_in_it_keeps_none(
        fleet: list[Services]) -> None:
    """Create an environment, archive its project and delete it, all at once: the delete ended
    the environments it read, the create committed after that read and its environment lived
    on, listed as active under a project that was gone (4 and 7 runs of 15, one and two
    processes, with only the delete fixed). Now the create writes the project, so it conflicts
    with the archive or the delete and is refused, or the delete sees it and deletes it too."""
    first = fleet[0]
    left = []
    for _ in range(15):
        created, deleted = create_archive_delete(fleet, create_environment)
        if isinstance(created, UUID) and isinstance(deleted, UUID):
            environment: Environment = first.store.repository.get(created)
            if not environment.deleted or first.view.get("environments", created) is not None:
                left.append(created)
        elif not isinstance(created, UUID):
            assert isinstance(created, (ProjectArchivedError, NotFoundError)), created
    assert not left, f"{len(left)} of 15 environments outlived their deleted project"
