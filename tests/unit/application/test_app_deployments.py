"""Deployments on the in-memory store: placement near users, capacity, preferred hosts, cached
images, stops before and after READY, agent reports, concurrent deploys racing for room, never a
node unhealthy at decision time, and starts that never came (deadline, node lost)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID

import msgspec
import pytest

from adapters.placement_index import FRESH
from adapters.secret_box import derive_key, key_id
from application.agent_protocol import (
    ContainerSpec,
    DeploymentReport,
    EnrollNode,
    HealthCheck,
    ReportedPort,
)
from application.apps import CreateApp, CreateAppVersion
from application.clusters import CreateCluster
from application.deployment_inputs import DeploymentCreate
from application.deployments import LOST, NO_ROOM, UNSEALABLE, InvalidAppVersionError
from application.enrollment_keys import IssueEnrollmentKey
from application.errors import ForbiddenError, NotFoundError, SecretUnavailableError
from application.hosts import UpdateHost
from domain.deployment import AlreadyTerminatedError, Status
from domain.node_status import NodeStatus
from domain.shared import InvalidValueError
from entrypoints.bootstrap import Services, build_services
from entrypoints.workers.scheduler import schedule_once
from projections.model import Upsert
from tests.conftest import make_settings
from tests.fakes import FixedClock

CITIES = {"montreal": (45.50, -73.57), "paris": (48.86, 2.35), "tokyo": (35.68, 139.69)}


@pytest.fixture
def services() -> Iterator[Services]:
    # Placement reads the hosts afresh each time here: the tests change them between deploys.
    services = build_services(make_settings("memory://", placement_snapshot=0))
    services.start()
    yield services
    services.close()


def nodes(services: Services, slots: int = 2) -> dict[str, UUID]:
    """One node per city, each with room for `slots` deployments of 512 units / 256 MB."""
    services.clusters.create(CreateCluster(name="edge"))
    key_id = services.enrollment_keys.issue("edge", IssueEnrollmentKey(uses_remaining=None))
    blob = services.view.get("enrollment_keys", key_id)["key"]  # type: ignore[index]
    found = {}
    for city, (lat, lon) in CITIES.items():
        node = services.nodes.enroll(EnrollNode(enrollment_key=blob, version="1.0.0")).node_id
        update = msgspec.convert({"location": {"city": city, "latitude": lat, "longitude": lon},
                                  "cpu_units": 512 * slots, "memory_mb": 256 * slots},
                                 UpdateHost)
        services.hosts.update(node, update)
        found[city] = node
    services.apps.create(CreateApp(name="game"))
    services.apps.add_version("game", CreateAppVersion(
        name="1", image="localhost/game:1", cpu_units=512, memory_mb=256))
    return found


def near(city: str, **extra: Any) -> DeploymentCreate:
    lat, lon = CITIES[city]
    body = {"application": "game", "version": "1", "users": [
        {"user_type": "geo_coordinates", "user_data": {"latitude": lat + 1, "longitude": lon}}],
        **extra}
    return msgspec.convert(body, DeploymentCreate)


def row(services: Services, request_id: str) -> dict[str, Any]:
    found = services.view.get("deployments", request_id)
    assert found is not None
    return found


def test_a_deployment_lands_on_the_node_nearest_its_users(services: Services) -> None:
    where = nodes(services)
    accepted = services.deployments.deploy(near("paris"))
    assert accepted.placed and accepted.node_id == where["paris"]
    stored = row(services, accepted.request_id)
    assert (stored["status"], stored["last_status"]) == (Status.DEPLOYING, Status.SEEKING)
    assert stored["node_id"] == where["paris"]
    host = services.view.get("hosts", where["paris"])
    assert host is not None and (host["allocated_cpu_units"], host["deployment_count"]) == (512, 1)


def test_a_full_fleet_records_the_deployment_in_error(services: Services) -> None:
    nodes(services, slots=1)
    placed = [services.deployments.deploy(near("tokyo")) for _ in range(3)]
    assert all(a.placed for a in placed)
    assert len({a.node_id for a in placed}) == 3  # overflow to the next nearest
    failed = services.deployments.deploy(near("tokyo"))
    assert not failed.placed
    stored = row(services, failed.request_id)
    assert (stored["status"], stored["error"], stored["error_detail"]) == (
        Status.ERROR, True, NO_ROOM)


def test_preferred_hosts_first_and_cached_images_only_when_asked(services: Services) -> None:
    where = nodes(services)
    preferred = (str(where["tokyo"]),)
    assert services.deployments.deploy(near("paris"), preferred).node_id == where["tokyo"]
    services.view.apply_untracked([Upsert("node_images", {
        "node_id": where["montreal"], "images": "|localhost/game:1|"})])
    cached = services.deployments.deploy(near("paris", require_cached_locations=True))
    assert cached.node_id == where["montreal"]


def test_unknown_application_or_version_is_refused(services: Services) -> None:
    nodes(services)
    body = msgspec.convert({"application": "game", "version": "9", "users": [
        {"user_type": "geo_coordinates", "user_data": {"latitude": 0, "longitude": 0}}]},
        DeploymentCreate)
    with pytest.raises(InvalidAppVersionError):
        services.deployments.deploy(body)


def test_stop_waits_for_ready_then_the_agent_ends_it_and_the_room_comes_back(
    services: Services,
) -> None:
    where = nodes(services)
    accepted = services.deployments.deploy(near("montreal"))
    assert services.deployments.stop(accepted.request_id) is False  # 202: not READY yet
    node = where["montreal"]
    ready = DeploymentReport(state="ready", ports={"7777": ReportedPort(external=31000)},
                             public_ip="127.0.0.1")
    assert services.deployments.report(node, accepted.request_id, ready) == Status.READY
    assert row(services, accepted.request_id)["stopping"] == "stop requested"
    done = DeploymentReport(state="terminated", exit_code=143)
    assert services.deployments.report(node, accepted.request_id, done) == Status.TERMINATED
    host = services.view.get("hosts", node)
    assert host is not None and host["allocated_cpu_units"] == 0
    with pytest.raises(AlreadyTerminatedError):
        services.deployments.stop(accepted.request_id)


def test_a_ready_deployment_whose_container_is_lost_is_an_error(services: Services) -> None:
    where = nodes(services)
    accepted = services.deployments.deploy(near("paris"))
    ready = DeploymentReport(state="ready", public_ip="127.0.0.1")
    services.deployments.report(where["paris"], accepted.request_id, ready)
    with pytest.raises(NotFoundError):  # only the node it runs on can lose it
        services.deployments.lost(where["tokyo"], [accepted.request_id])
    services.deployments.lost(where["paris"], [accepted.request_id])
    stored = row(services, accepted.request_id)
    assert (stored["status"], stored["error_detail"]) == (Status.ERROR, LOST)
    host = services.view.get("hosts", where["paris"])
    assert host is not None and host["allocated_cpu_units"] == 0


def test_concurrent_deploys_never_overbook_a_host(services: Services) -> None:
    nodes(services, slots=2)  # six slots in all
    results: list[bool] = []
    lock = threading.Lock()

    def deploy() -> None:
        accepted = services.deployments.deploy(near("paris"))
        with lock:
            results.append(accepted.placed)

    threads = [threading.Thread(target=deploy) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 4 + [True] * 6
    for host in services.view.select("hosts", {}):
        assert host["allocated_cpu_units"] <= host["cpu_units"]


def test_the_scheduler_stops_a_deployment_past_its_max_duration() -> None:
    clock = FixedClock()
    services = build_services(make_settings("memory://"), clock=clock)
    services.start()
    try:
        where = nodes(services)
        services.apps.add_version("game", CreateAppVersion(
            name="short", image="localhost/game:1", cpu_units=512, memory_mb=256,
            max_duration=1))
        body = msgspec.convert({"application": "game", "version": "short", "users": [
            {"user_type": "geo_coordinates", "user_data": {"latitude": 48, "longitude": 2}}]},
            DeploymentCreate)
        accepted = services.deployments.deploy(body)
        services.deployments.report(where["paris"], accepted.request_id,
                                    DeploymentReport(state="ready"))
        clock.advance(59)
        schedule_once(services)
        assert row(services, accepted.request_id).get("stopping") is None
        clock.advance(2)
        schedule_once(services)
        assert row(services, accepted.request_id)["stopping"] == "max_duration reached"
    finally:
        services.close()


def test_webhook_urls_pass_the_ssrf_policy(services: Services) -> None:
    nodes(services)
    private = near("paris", webhook_on_ready={"url": "http://127.0.0.1:9/hook"})
    with pytest.raises(InvalidValueError) as refused:
        services.deployments.deploy(private)
    assert refused.value.field == "webhook_on_ready.url"
    accepted = services.deployments.deploy(
        near("paris", webhook_on_error={"url": "https://93.184.216.34/hook"}))
    assert accepted.hook_secret is not None and len(accepted.hook_secret) >= 32
    assert services.deployments.deploy(near("paris")).hook_secret is None


def test_secrets_are_sealed_at_rest_and_unsealed_for_the_node(services: Services) -> None:
    """Hidden values, the delete token and the hook secret never reach an event or a read-model
    row in clear (events cannot be scrubbed later); the agent's start spec has them whole."""
    where = nodes(services)
    services.apps.add_version("game", msgspec.convert({
        "name": "2", "image": "localhost/game:2", "cpu_units": 512, "memory_mb": 256,
        "env": [{"key": "DB_PASSWORD", "value": "version-secret-1", "is_hidden": True},
                {"key": "MODE", "value": "plain-mode", "is_hidden": False}]}, CreateAppVersion))
    accepted = services.deployments.deploy(near(
        "paris", version="2", webhook_on_ready={"url": "https://93.184.216.34/hook"},
        environment_variables=[{"key": "API_KEY", "value": "deploy-secret-2",
                                "is_hidden": True}]))
    assert accepted.hook_secret is not None
    [start] = services.deployments.work_for(where["paris"], [])["deployments"]
    env = start["env"]
    assert (env["DB_PASSWORD"], env["API_KEY"], env["MODE"]) == (
        "version-secret-1", "deploy-secret-2", "plain-mode")
    token = env["ARBITRIUM_DELETE_TOKEN"]
    secrets = ("version-secret-1", "deploy-secret-2", token, accepted.hook_secret)
    stored = b"".join(n.state for n in services.store.recorder.select_notifications(1, 10_000))
    assert b"plain-mode" in stored  # the scan does see what is stored in clear
    assert not [s for s in secrets if s.encode() in stored]
    rows = [services.view.select(t, {}) for t in ("deployments", "app_versions",
                                                   "deployment_hooks")]
    assert not [s for s in secrets if s in repr(rows)]
    point = start_access_point(start)
    with pytest.raises(ForbiddenError):
        services.deployments.self_stop(accepted.request_id, point, token[:-1])
    with pytest.raises(ForbiddenError):
        services.deployments.self_stop(accepted.request_id, point + 1, token)
    assert services.deployments.self_stop(accepted.request_id, point, token) is False  # 202


def start_access_point(start: dict[str, Any]) -> int:
    return int(start["env"]["ARBITRIUM_DELETE_URL"].rsplit("/", 1)[1])


def test_a_deployment_whose_secrets_do_not_open_fails_loudly(tmp_path: Any) -> None:
    """Restarted without the key that sealed its hidden value and token: the work poll still
    answers (others start), the deployment fails with the reason, a self-stop answers 503, and
    the failure is counted for readiness and the metrics."""
    url, (old_key, new_key) = f"sqlite:///{tmp_path}/edge.sqlite3", ("old key", "new key")
    before = build_services(make_settings(url, encryption_key=old_key, placement_snapshot=0))
    before.start()
    try:
        where = nodes(before)
        before.apps.add_version("game", msgspec.convert({
            "name": "2", "image": "localhost/game:2", "cpu_units": 512, "memory_mb": 256,
            "env": [{"key": "DB_PASSWORD", "value": "hidden", "is_hidden": True}]},
            CreateAppVersion))
        sealed = before.deployments.deploy(near("paris", version="2")).request_id
    finally:
        before.close()
    after = build_services(make_settings(url, encryption_key=new_key, placement_snapshot=0))
    after.start()
    try:
        point = json.loads(row(after, sealed)["spec"])["access_point_id"]
        with pytest.raises(SecretUnavailableError):
            after.deployments.self_stop(sealed, point, "any token")
        fresh = after.deployments.deploy(near("paris")).request_id
        starts = after.deployments.work_for(where["paris"], [])["deployments"]
        assert [s["request_id"] for s in starts] == [fresh]
        failed = row(after, sealed)
        assert failed["status"] == Status.ERROR.value
        assert failed["error_detail"].startswith(f"{UNSEALABLE} (sealed with key "
                                                 f"{key_id(derive_key(old_key))}")
        assert after.unsealing.total == 2
        assert [u.what for u in after.unsealing.unsealable()] == [f"deployment {sealed}"]
    finally:
        after.close()


def test_room_given_back_since_the_snapshot_is_found_before_refusing() -> None:
    """A placement snapshot older than FRESH that shows a full fleet is read again once before
    "Couldn't Allocate Server": a stop may have just given room back."""
    services = build_services(make_settings("memory://", placement_snapshot=0.5))
    services.start()
    try:
        where = nodes(services, slots=1)
        first = [services.deployments.deploy(near("tokyo")) for _ in range(3)]
        assert all(a.placed for a in first)
        time.sleep(0.6)  # the next deploy takes a new snapshot: every host full
        assert not services.deployments.deploy(near("tokyo")).placed
        ended = first[0]
        node = ended.node_id
        assert node is not None
        services.deployments.report(node, ended.request_id, DeploymentReport(state="ready"))
        services.deployments.stop(ended.request_id)
        services.deployments.report(node, ended.request_id,
                                    DeploymentReport(state="terminated", exit_code=0))
        time.sleep(FRESH * 1.5)  # older than FRESH, younger than 0.5 s: it shows that host full
        again = services.deployments.deploy(near("tokyo"))
        assert again.placed and again.node_id == node
        assert set(where.values()) == {a.node_id for a in first}
    finally:
        services.close()


def test_placement_never_chooses_a_node_unhealthy_at_decision_time() -> None:
    """The hosts snapshot is an hour old here (all healthy when read); each deploy comes right
    after the nodes' statuses changed, and must land on the nearest node healthy now."""
    services = build_services(make_settings("memory://", placement_snapshot=3600))
    services.start()
    try:
        where = nodes(services, slots=30)
        assert services.deployments.deploy(near("paris")).node_id == where["paris"]
        by_distance = ("paris", "montreal", "tokyo")  # from users near Paris
        combos = list(itertools.product(NodeStatus, repeat=3))
        # Combos leaving a healthy node first: placement then never needs a fresh snapshot.
        combos.sort(key=lambda c: NodeStatus.HEALTHY not in c)
        for statuses in combos:
            for city, status in zip(by_distance, statuses, strict=True):
                services.nodes.set_status(where[city], status, "test")
            accepted = services.deployments.deploy(near("paris"))
            healthy = [where[c] for c, s in zip(by_distance, statuses, strict=True)
                       if s is NodeStatus.HEALTHY]
            assert accepted.node_id == (healthy[0] if healthy else None), statuses
    finally:
        services.close()


@pytest.fixture
def clocked(any_url: str) -> Iterator[tuple[Services, FixedClock]]:
    """On every store: the passes read the deployments and nodes tables through SQL there."""
    clock = FixedClock()
    services = build_services(make_settings(any_url, placement_snapshot=0,
                                            deployment_start_deadline=600), clock=clock)
    services.start()
    clock.advance(3600)  # the admin has been up longer than the deadline
    yield services, clock
    services.close()


def allocated(services: Services, node: UUID) -> int:
    host = services.view.get("hosts", node)
    assert host is not None
    return int(host["allocated_cpu_units"])


def test_a_start_that_never_comes_ends_in_error_and_gives_its_room_back(
    clocked: tuple[Services, FixedClock],
) -> None:
    services, clock = clocked
    where = nodes(services, slots=1)
    placed = [services.deployments.deploy(near("tokyo")) for _ in range(3)]
    assert all(a.placed for a in placed)
    started, *stuck = placed
    assert started.node_id is not None
    services.deployments.report(started.node_id, started.request_id,
                                DeploymentReport(state="ready", public_ip="127.0.0.1"))
    assert not services.deployments.deploy(near("tokyo")).placed  # full fleet
    clock.advance(599)
    schedule_once(services)
    assert all(row(services, a.request_id)["status"] == Status.DEPLOYING for a in stuck)
    clock.advance(1)
    # An admin up for less than the deadline was not there to hear the reports: all look late.
    assert services.deployments.expire_unstarted(600, clock.now() - timedelta(seconds=599)) == 0
    assert services.deployments.expire_unstarted(600, None) == 0
    schedule_once(services)
    for accepted in stuck:
        stored = row(services, accepted.request_id)
        assert (stored["status"], stored["last_status"], stored["error"]) == (
            Status.ERROR, Status.DEPLOYING, True)
        assert stored["error_detail"] == (
            f"not started within 600 s on node {accepted.node_id}")
        assert accepted.node_id is not None and allocated(services, accepted.node_id) == 0
    assert row(services, started.request_id)["status"] == Status.READY
    assert allocated(services, where["tokyo"]) == 512  # the started one keeps its room
    failed = [n.state for n in services.store.recorder.select_notifications(1, 10_000)
              if n.topic.endswith("Deployment.Failed")]
    assert len(failed) == 3  # the two given up (edge.deployment.error) and the refused one
    assert schedule_once(services) == 0  # idempotent
    again = services.deployments.deploy(near("tokyo"))  # the room given back is found
    assert again.placed and again.node_id in {a.node_id for a in stuck}


def test_a_late_start_does_not_revive_a_start_given_up_and_is_removed(
    clocked: tuple[Services, FixedClock],
) -> None:
    """The node starts the container after the deadline: its READY changes nothing, the next
    work poll tells it to remove the container, and its report of that changes nothing."""
    services, clock = clocked
    where = nodes(services)
    accepted = services.deployments.deploy(near("paris"))
    node = where["paris"]
    clock.advance(600)
    schedule_once(services)
    assert row(services, accepted.request_id)["status"] == Status.ERROR
    ready = DeploymentReport(state="ready", public_ip="127.0.0.1")
    assert services.deployments.report(node, accepted.request_id, ready) == Status.ERROR
    work = services.deployments.work_for(node, [accepted.request_id])
    assert work == {"deployments": [], "stop_deployments": [accepted.request_id]}
    removed = DeploymentReport(state="terminated", exit_code=143)
    assert services.deployments.report(node, accepted.request_id, removed) == Status.ERROR
    assert allocated(services, node) == 0
    assert services.deployments.stop(accepted.request_id) is True  # nothing runs: ends now
    stored = row(services, accepted.request_id)
    assert (stored["status"], stored["stopping"]) == (Status.TERMINATED, None)
    assert services.deployments.work_for(node, []) == {"deployments": [], "stop_deployments": []}


def test_starts_on_a_node_that_becomes_unreachable_or_is_deleted_end_in_error(
    clocked: tuple[Services, FixedClock],
) -> None:
    services, _ = clocked
    where = nodes(services)
    running, waiting = (services.deployments.deploy(near("paris")) for _ in range(2))
    services.deployments.report(where["paris"], running.request_id,
                                DeploymentReport(state="ready", public_ip="127.0.0.1"))
    on_montreal = services.deployments.deploy(near("montreal"))
    on_tokyo = services.deployments.deploy(near("tokyo"))
    services.nodes.set_status(where["tokyo"], NodeStatus.UNHEALTHY, "test")
    assert schedule_once(services) == 0  # unhealthy may still start it: the deadline decides
    services.nodes.set_status(where["paris"], NodeStatus.UNREACHABLE, "missed heartbeats")
    services.nodes.delete(where["montreal"])
    schedule_once(services)
    stored = row(services, waiting.request_id)
    assert (stored["status"], stored["error_detail"]) == (
        Status.ERROR, f"node {where['paris']} became unreachable before starting it")
    gone = row(services, on_montreal.request_id)  # ended by the node's deletion itself
    assert (gone["status"], gone["error_detail"]) == (
        Status.ERROR, f"node {where['montreal']} was deleted")
    # A READY one is left to the node: it may come back with it running.
    assert row(services, running.request_id)["status"] == Status.READY
    assert allocated(services, where["paris"]) == 512
    assert row(services, on_tokyo.request_id)["status"] == Status.DEPLOYING
    assert schedule_once(services) == 0


def described(health: Any) -> dict[str, Any]:
    """A deployment described whole (as Mengi's app hosting does) with a `health` entry."""
    return {"app": "hosted", "version": "v", "image": "localhost/game:1", "ports": [
        {"port": 8080, "protocol": "HTTP", "name": "web"}], "cpu_units": 512,
        "memory_mb": 256, "max_duration": 0, "command": None, "arguments": None, "env": [],
        "health": health}


def test_a_health_entry_in_any_spec_reaches_the_agent_and_a_bad_one_fails_its_deployment(
        services: Services) -> None:
    """The hook by which any deployment path (not only a Resource's) gets a health check:
    missing fields take the protocol's defaults, the port its first published one."""
    where = nodes(services, slots=4)
    paris = str(where["paris"])

    def deploy(health: Any) -> str:
        accepted = services.deployments.deploy_spec(described(health), [],
                                                    lambda c: c.host_id == paris)
        assert accepted.node_id == where["paris"]
        return accepted.request_id

    plain = services.deployments.deploy(near("paris")).request_id
    off = deploy({"enabled": False, "type": "tcp"})
    checked = deploy({"type": "tcp", "retries": 4})
    bad = deploy({"path": "no-slash", "expected_status": 200})
    starts = services.deployments.work_for(where["paris"], [])["deployments"]
    health = {s["request_id"]: msgspec.convert(s, ContainerSpec).health for s in starts}
    assert health == {plain: None, off: None, checked: HealthCheck(type="tcp", port=8080,
                                                                   retries=4)}
    assert row(services, bad)["status"] == Status.ERROR.value
    assert row(services, bad)["error_detail"].startswith(
        "invalid health policy: Expected `str` matching regex")


def test_a_start_with_a_health_check_may_take_what_its_policy_allows_beyond_the_deadline(
    clocked: tuple[Services, FixedClock],
) -> None:
    services, clock = clocked
    where = nodes(services, slots=4)
    paris = str(where["paris"])
    checked = services.deployments.deploy_spec(described({
        "start_period_seconds": 100, "retries": 2, "interval_seconds": 10,
        "timeout_seconds": 5}), [], lambda c: c.host_id == paris).request_id
    plain = services.deployments.deploy(near("paris")).request_id
    clock.advance(600)
    schedule_once(services)
    assert row(services, plain)["status"] == Status.ERROR
    clock.advance(129)  # 100 + 2 x (10 + 5)
    schedule_once(services)
    assert row(services, checked)["status"] == Status.DEPLOYING
    clock.advance(1)
    schedule_once(services)
    stored = row(services, checked)
    assert (stored["status"], stored["error_detail"]) == (
        Status.ERROR, f"not started within 730 s on node {paris}")
