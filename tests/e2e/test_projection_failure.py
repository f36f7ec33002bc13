"""When a projection handler still raises, the service stays up and says so in one place
(issue 14): /readyz names the stuck event, writes are refused at once with a 503 that says why,
the failure is logged once with its traceback, exported as a metric, shown by
`edge-admin projections status`, start-up goes on, and a fixed release resumes from the stuck
event with no data edits.

A bug is injected by putting a raising handler in the projection's table: the fault a release
could ship, not a stand-in for a collaborator."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from typing import Any

import pytest

from domain.alias import Alias
from domain.app import App
from projections import fleet
from tests.conftest import API_KEY
from tests.e2e.test_http_support import AUTH, add_node, error, running, services_of

pytestmark = pytest.mark.e2e


HANDLERS: dict[Any, Any] = fleet.HANDLERS  # keyed by event classes made at class creation


def broken(event: Any) -> list[Any]:
    raise RuntimeError(f"injected bug for {type(event).__qualname__}")


def test_recreating_a_deleted_app_goes_on(any_url: str) -> None:
    with running(any_url) as client:
        assert client.post("/api/v1/apps", headers=AUTH, json={"name": "game"}).status_code == 201
        assert client.delete("/api/v1/apps/game", headers=AUTH).status_code == 204
        assert client.get("/api/v1/apps/game", headers=AUTH).status_code == 404
        started = time.monotonic()
        again = client.post("/api/v1/apps", headers=AUTH, json={"name": "game"})
        assert again.status_code == 201, again.text
        assert time.monotonic() - started < 2
        assert client.post("/api/v1/clusters", headers=AUTH, json={"name": "c1"}).status_code == 201
        listed = client.get("/api/v1/apps", headers=AUTH).json()["data"]
        assert [a["name"] for a in listed] == ["game"]
        assert client.get("/readyz").status_code == 200


def test_a_raising_handler_stops_only_the_read_model(
    any_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setitem(HANDLERS, Alias.Created, broken)
    with running(any_url) as client:
        node = add_node(client)
        caplog.set_level(logging.ERROR, "projections.runner")
        stuck = client.post(f"/api/v1/nodes/{node}/aliases", headers=AUTH, json={"name": "web"})
        details = error(stuck, 503, "service_unavailable", {"projection"})
        assert "Alias.Created" in details["projection"][0]
        assert "injected bug" in stuck.json()["error"]["message"]

        for _ in range(5):  # refused at once, each, not after a 10 s wait
            started = time.monotonic()
            refused = client.post("/api/v1/clusters", headers=AUTH, json={"name": "later"})
            assert refused.status_code == 503
            assert time.monotonic() - started < 0.5
        assert client.get("/api/v1/clusters", headers=AUTH).status_code == 200  # reads go on

        ready = client.get("/readyz")
        assert ready.status_code == 503
        check = ready.json()["checks"]["projections"]
        position = services_of(client).projector.position
        assert f"stuck at event {position + 1} (Alias.Created)" in check
        assert "RuntimeError: injected bug for Alias.Created" in check

        metrics = client.get("/metrics").text
        assert "edge_admin_projection_stuck 1.0" in metrics
        assert "edge_admin_projection_lag_events 1.0" in metrics

        logged = [r for r in caplog.records if r.name == "projections.runner"]
        assert len(logged) == 1, [r.getMessage() for r in logged]  # once, with the traceback
        assert logged[0].exc_info is not None
        assert "Alias.Created" in logged[0].getMessage()


def test_a_fixed_release_resumes_from_the_stuck_event(
    any_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    if any_url == "memory://":
        pytest.skip("memory:// keeps nothing between processes by design")
    monkeypatch.setitem(HANDLERS, Alias.Created, broken)
    with running(any_url) as client:
        node = add_node(client)
        answer = client.post(f"/api/v1/nodes/{node}/aliases", headers=AUTH, json={"name": "web"})
        assert answer.status_code == 503
    with running(any_url) as client:  # the broken release starts again: it starts
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
    monkeypatch.undo()
    with running(any_url) as client:  # the fixed release: no data edits
        deadline = time.monotonic() + 5
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.05)
        aliases = client.get("/api/v1/aliases", headers=AUTH).json()["data"]
        assert [a["name"] for a in aliases] == ["web"]
        made = client.post("/api/v1/clusters", headers=AUTH, json={"name": "after"})
        assert made.status_code == 201


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "API_KEY": API_KEY}
    return subprocess.run([sys.executable, "-m", "entrypoints.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_projections_status_and_replay_name_the_stuck_event(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(HANDLERS, App.Deleted, broken)  # type: ignore[attr-defined]
    with running(sqlite_url) as client:
        client.post("/api/v1/apps", headers=AUTH, json={"name": "game"})
        assert client.delete("/api/v1/apps/game", headers=AUTH).status_code == 503
    status = _cli(sqlite_url, "projections", "status")
    assert status.returncode == 1
    assert "STUCK at event" in status.stdout and "(App.Deleted)" in status.stdout
    assert "RuntimeError: injected bug for App.Deleted" in status.stdout
    # The fixed release (this code, in a process of its own) replays past it.
    replayed = _cli(sqlite_url, "replay")
    assert replayed.returncode == 0, replayed.stderr
    fine = _cli(sqlite_url, "projections", "status")
    assert fine.returncode == 0, fine.stdout
    assert fine.stdout.startswith("projection fleet: ok")


def test_replay_stops_at_a_failing_event_with_one_line(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    with running(sqlite_url) as client:
        client.post("/api/v1/apps", headers=AUTH, json={"name": "game"})
    from entrypoints import cli

    monkeypatch.setitem(HANDLERS, App.Created, broken)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("API_KEY", API_KEY)
    assert cli.main(["replay"]) == 1
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert said.startswith("edge-admin: replay stopped at event ")
    assert "(App.Created): RuntimeError: injected bug" in said
