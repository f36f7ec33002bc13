"""A read model that holds less of the log at start than the log holds (a `replay` killed, or a
start killed mid-rebuild after an upgrade: the version row already says current) keeps /readyz
at 503 "catching up (x of y events)" until it holds what the log held, and the start does not
wait for it: /healthz and /readyz answer meanwhile."""

from __future__ import annotations

import time

import pytest

from application.clusters import CreateCluster
from application.commands import CreateCommand
from domain.targeting import Targeting, TargetType
from entrypoints.app import create_app
from entrypoints.bootstrap import build_services
from projections.status import ReadModelBehindError
from tests.conftest import make_settings
from tests.contract import checking_client
from tests.e2e.test_http_support import AUTH, enroll, issue_key, running
from tests.integration.webhook_harness import write_registrations

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["sqlite", "postgres"])
def durable_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """A store another build of the services finds again (memory:// keeps nothing)."""
    return sqlite_url if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


def test_a_read_model_left_behind_is_not_ready_until_it_caught_up(durable_url: str) -> None:
    settings = make_settings(durable_url, default_cluster_name="")
    first = build_services(settings)
    first.start()
    for n in range(5):
        first.clusters.create(CreateCluster(name=f"c{n}"))
    head = first.store.recorder.max_notification_id()
    first.view.reset(first.store.name)  # what a replay killed before its first page leaves
    first.close()

    again = build_services(settings)  # not started: the projector has not moved yet
    try:
        assert again.rebuilding_to == head
        assert not again.upgraded
    finally:
        again.close()

    with checking_client(create_app(settings)) as client:  # the lifespan starts and joins
        svc = client.app.state.services  # type: ignore[attr-defined]
        assert svc.rebuilding_to in (head, 0)  # 0 once a readiness check saw it caught up
        deadline = time.monotonic() + 30
        lines = set()
        while (ready := client.get("/readyz")).status_code != 200:
            lines.add(ready.json()["checks"]["projections"])
            assert time.monotonic() < deadline, lines
            time.sleep(0.05)
        assert all(line.startswith("error: the read models are catching up with the event log")
                   for line in lines), lines
        names = [c["name"] for c in client.get("/api/v1/clusters", headers=AUTH).json()["data"]]
        assert sorted(names) == [f"c{n}" for n in range(5)]
        assert svc.rebuilding_to == 0


def test_a_read_model_holding_the_whole_log_is_ready_at_once(durable_url: str) -> None:
    settings = make_settings(durable_url, default_cluster_name="")
    first = build_services(settings)
    first.start()
    first.clusters.create(CreateCluster(name="c"))
    first.close()
    again = build_services(settings)
    try:
        assert again.rebuilding_to == 0
    finally:
        again.close()


def test_writes_wait_for_the_read_model_to_hold_the_log_it_held_less_of(durable_url: str) -> None:
    """A write decided while the read model is rebuilt (after an upgrade) reads part of the
    log: a command to every node, created then, targeted none of them. It is refused (503)
    until the read model holds what the log held at start, and nothing is recorded."""
    settings = make_settings(durable_url, default_cluster_name="")
    first = build_services(settings)
    first.start()
    write_registrations(first, 3)
    first.projector.wait(first.store.recorder.max_notification_id() or 0)
    first.view.reset(first.store.name)  # what a rebuild at start begins with
    first.close()

    again = build_services(settings)  # not started: the read model holds nothing yet
    try:
        head = again.store.recorder.max_notification_id()
        order = CreateCommand(command_text="uptime", targeting=Targeting(type=TargetType.ALL))
        with pytest.raises(ReadModelBehindError):
            again.commands.create(order)
        assert again.store.recorder.max_notification_id() == head  # nothing recorded
        again.start()
        again.projector.wait(head or 0)
        command = again.commands.create(order)
        executions = again.view.select("command_executions", {"command_id": command})
        assert len(executions) == 3
    finally:
        again.close()


def test_an_agent_the_rebuilt_read_model_does_not_hold_yet_is_told_to_wait(
    durable_url: str,
) -> None:
    """While the read models are rebuilt at start (after an upgrade), a node not projected yet
    was unknown to its token: heartbeats and the other agent reports answered 401, on which
    an agent forgets its token and enrolls again (a new node for a random one; a spent key
    use, or an agent that exits without ENROLLMENT_KEY, for a persistent one). It hears 503
    until the read model holds the log, and its token works on afterwards."""
    settings = make_settings(durable_url, default_cluster_name="main")
    with running(durable_url) as client:
        token = enroll(client, issue_key(client)["key"])["api_token"]
    stopped = build_services(settings)
    stopped.view.reset(stopped.store.name)  # what a rebuild at start begins with
    stopped.close()

    again = build_services(settings)  # not started: the read model holds nothing yet
    app = create_app(settings, again)
    app.state.services = again  # served without the lifespan, which would start the projector
    bearer = {"Authorization": f"Bearer {token}"}
    try:
        client = checking_client(app)
        beat = client.post("/agent/v1/heartbeat", headers=bearer, json={"status": "healthy"})
        assert beat.status_code == 503, beat.text
        assert "rebuilt" in beat.json()["error"]["message"]
        assert client.post("/agent/v1/work", headers=bearer,
                           json={"wait_seconds": 0}).status_code == 503
        again.start()
        again.projector.wait(again.store.recorder.max_notification_id() or 0)
        beat = client.post("/agent/v1/heartbeat", headers=bearer, json={"status": "healthy"})
        assert beat.status_code == 200, beat.text
    finally:
        again.close()


def test_a_process_that_does_not_project_waits_for_the_one_that_does(durable_url: str) -> None:
    """`serve --no-projections` started while the projecting process rebuilds the read models
    (an upgrade) decided writes on part of the log: a command to every node targeted none.
    It refuses writes (503) until the read model holds what the log held at its start."""
    settings = make_settings(durable_url, default_cluster_name="")
    first = build_services(settings)
    first.start()
    write_registrations(first, 3)
    first.projector.wait(first.store.recorder.max_notification_id() or 0)
    first.view.reset(first.store.name)  # what a rebuild at start begins with
    first.close()

    follower = build_services(make_settings(durable_url, default_cluster_name="",
                                            run_projections=False))
    projecting = build_services(settings)  # not started yet: nothing projected
    try:
        head = follower.store.recorder.max_notification_id() or 0
        assert follower.rebuilding_to == head
        order = CreateCommand(command_text="uptime", targeting=Targeting(type=TargetType.ALL))
        with pytest.raises(ReadModelBehindError):
            follower.commands.create(order)
        assert follower.store.recorder.max_notification_id() == head  # nothing recorded
        projecting.start()
        projecting.projector.wait(head)
        command = follower.commands.create(order)
        follower.projector.wait(follower.store.recorder.max_notification_id() or 0)
        executions = follower.view.select("command_executions", {"command_id": command})
        assert len(executions) == 3
    finally:
        projecting.close()
        follower.close()
