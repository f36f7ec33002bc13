"""A resource's health through HTTP (issue 17), with the agent's side played through its own
routes: cached health from its reports, the history of its observations, a live probe handed
out in the work answer and answered (or not, in time), and bad input refused with the house
envelope. On memory, SQLite and PostgreSQL (any_url)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.e2e.test_http_appaloft import configured, get
from tests.e2e.test_http_support import AUTH, MISSING, error
from tests.fakes import FixedClock

pytestmark = pytest.mark.e2e


def observe(client: TestClient, token: dict[str, str], request_id: str, **body: Any) -> Any:
    sent = client.post(f"/agent/v1/deployments/{request_id}/health", headers=token,
                       json={"kind": "change", "lifecycle": "running", **body})
    assert sent.status_code == 200, sent.text
    return sent.json()["data"]


def health(client: TestClient, resource: str, **params: Any) -> Any:
    return get(client, f"/resources/{resource}/health", **params)


def history(client: TestClient, resource: str, **params: Any) -> Any:
    return get(client, f"/resources/{resource}/health-history", **params)


def test_cached_health_follows_the_agents_reports_and_history_keeps_them(
        any_url: str) -> None:
    clock = FixedClock()
    with configured(any_url, clock=clock) as (flow, _, token):
        client = flow.client
        shown = health(client, flow.resource)
        assert shown["schemaVersion"] == "resources.health/v1"
        assert (shown["overall"], shown["runtime"]["lifecycle"], shown["latestDeployment"]) == (
            "not-deployed", "not-deployed", None)
        first = flow.deploy()
        assert health(client, flow.resource)["overall"] == "not-deployed"  # not healthy yet
        flow.report(token, first, "ready")
        shown = health(client, flow.resource)
        assert (shown["overall"], shown["runtime"]["reasonCode"]) == ("healthy", "ready-report")
        assert shown["latestDeployment"]["id"] == first
        assert shown["healthPolicy"]["status"] == "configured"
        assert shown["healthPolicy"]["path"] == "/healthz"
        request_id = flow.show(first)["deployment"]["requestId"]
        assert observe(client, token, request_id, health="healthy", duration_ms=3)["recorded"]
        clock.advance(30)
        observe(client, token, request_id, health="unhealthy", status_code=503,
                message="GET /healthz answered 503 (expected 200)")
        shown = health(client, flow.resource, includeChecks="true")
        assert (shown["overall"], shown["runtime"]["health"]) == ("unhealthy", "unhealthy")
        [check] = shown["checks"]
        assert (check["status"], check["statusCode"], check["phase"]) == ("failed", 503,
                                                                          "change")
        assert health(client, flow.resource)["checks"] == []
        kept = history(client, flow.resource)
        assert kept["schemaVersion"] == "resources.health-history/v1"
        assert [o["overall"] for o in kept["observations"]] == ["healthy", "unhealthy"]
        assert {o["latestDeploymentId"] for o in kept["observations"]} == {first}
        newest = history(client, flow.resource, limit=1)["observations"]
        assert [o["overall"] for o in newest] == ["unhealthy"]
        assert newest[0]["summary"]["checks"][0]["message"].endswith("(expected 200)")
        clock.advance(1)  # the window is inclusive: a second later holds nothing yet
        later = (clock.now().replace(microsecond=0).isoformat()).replace("+00:00", "Z")
        assert history(client, flow.resource, **{"window.from": later})["observations"] == []
        # an agent gone quiet: three heartbeats without a word say nothing any more
        clock.advance(180)
        shown = health(client, flow.resource)
        assert (shown["overall"], shown["runtime"]["reasonCode"]) == (
            "unknown", "health-report-stale")
        # the container exits: its end is the last word
        observe(client, token, request_id, kind="exit", lifecycle="exited", health="unhealthy",
                exit_code=137)
        assert health(client, flow.resource)["runtime"]["lifecycle"] == "exited"


def test_live_mode_asks_the_agent_and_says_so_when_it_does_not_answer(any_url: str) -> None:
    with configured(any_url) as (flow, node, token):
        client = flow.client
        skipped = health(client, flow.resource, mode="live")
        assert [e["code"] for e in skipped["sourceErrors"]] == ["no-running-deployment"]
        first = flow.deploy()
        flow.report(token, first, "ready")
        request_id = flow.show(first)["deployment"]["requestId"]
        answered: dict[str, Any] = {}
        asking = threading.Thread(target=lambda: answered.update(
            health(client, flow.resource, mode="live", includeChecks="true",
                   timeoutSeconds=20)))
        asking.start()
        probes: list[Any] = []
        for _ in range(50):
            work = client.post("/agent/v1/work", headers=token, json={
                "wait_seconds": 0.2, "deployments": [request_id]})
            assert work.status_code == 200, work.text
            probes = work.json()["data"]["health_probes"]
            if probes:
                break
        [probe] = probes
        assert probe["request_id"] == request_id
        observe(client, token, request_id, kind="probe", health="unhealthy",
                probe_id=probe["probe_id"], message="GET /healthz answered 500")
        asking.join(30)
        assert (answered["overall"], answered["sourceErrors"]) == ("unhealthy", [])
        assert answered["checks"][0]["phase"] == "probe"
        # cached is the agent's watch, which one probe does not move
        assert health(client, flow.resource)["overall"] == "healthy"
        # handed out once: the next work answer has no probe
        again = client.post("/agent/v1/work", headers=token, json={"wait_seconds": 0,
                                                                 "deployments": [request_id]})
        assert again.json()["data"]["health_probes"] == []
        # nobody answers: the cached answer, and why
        late = health(client, flow.resource, mode="live", timeoutSeconds=0.3)
        assert late["overall"] == "healthy"
        [why] = late["sourceErrors"]
        assert (why["code"], why["retriable"], why["relatedEntityId"]) == (
            "live-probe-timeout", True, first)
        assert node in why["message"]


def test_bad_input_is_a_4xx_in_the_house_envelope() -> None:
    with configured() as (flow, _, token):
        client = flow.client
        base = f"/resources/{flow.resource}"
        for path in (f"/resources/{MISSING}/health", f"/resources/{MISSING}/health-history"):
            error(client.get(path, headers=AUTH), 404, "not_found")
        error(client.get("/resources/nope/health", headers=AUTH), 400, "bad_request")
        for params, name in [
            ({"mode": "sometimes"}, "mode"), ({"includeChecks": "maybe"}, "includeChecks"),
            ({"timeoutSeconds": "0"}, "timeoutSeconds"), ({"timeoutSeconds": "31"},
                                                          "timeoutSeconds"),
            ({"timeoutSeconds": "nan"}, "timeoutSeconds"), ({"window": "1h"}, "window"),
        ]:
            error(client.get(f"{base}/health", headers=AUTH, params=params), 400,
                  "bad_request", {name})
        for params, name in [
            ({"limit": "0"}, "limit"), ({"limit": "721"}, "limit"),
            ({"limit": str(2**63)}, "limit"), ({"limit": "ten"}, "limit"),
            ({"window.from": "2026-01-01"}, "window.from"),
            ({"window.from": "2026-01-01T00:00:00+01:00"}, "window.from"),
            ({"window.from": "2026-02-30T00:00:00Z"}, "window.from"),
            ({"window.to": "0000-01-01T00:00:00Z"}, "window.to"),
            ({"window.to": "2026-01-01T00:00:00Z\x00"}, "window.to"),
            ({"window.from": "2026-01-02T00:00:00Z", "window.to": "2026-01-01T00:00:00Z"},
             "window.from"),
            ({"cursor": "1"}, "cursor"),
        ]:
            error(client.get(f"{base}/health-history", headers=AUTH, params=params), 400,
                  "bad_request", {name})
        assert history(client, flow.resource, limit=720, **{
            "window.from": "2026-01-01T00:00Z",
            "window.to": "9999-12-31T23:59:59.123456789Z"})["observations"] == []
        # The default window (24 h before window.to) reached before year 1: it was a 500.
        earliest = history(client, flow.resource, **{"window.to": "0001-01-01T00:00:00Z"})
        assert earliest["from"] == "0001-01-01T00:00:00Z" and earliest["observations"] == []
        first = flow.deploy()
        request_id = flow.show(first)["deployment"]["requestId"]
        url = f"/agent/v1/deployments/{request_id}/health"
        good = {"kind": "change", "lifecycle": "running", "health": "healthy"}
        for body in [{**good, "kind": "sometimes"}, {**good, "message": "x" * 4097},
                     {**good, "duration_ms": 2**63}, {**good, "probe_id": "nope"},
                     {**good, "extra": 1}, {"kind": "change"}]:
            error(client.post(url, headers=token, json=body), 422, "validation_failed")
        error(client.post(url, headers=token, content=b"\xff\xfe"), 400, "bad_request")
        error(client.post("/agent/v1/deployments/000000000000/health", headers=token,
                          json=good), 404, "not_found")
        error(client.post(url, headers=AUTH, json=good), 401, "unauthorized")
        _, other = flow.node()
        error(client.post(url, headers=other, json=good), 404, "not_found")
        assert observe(client, token, request_id, health="healthy")["recorded"]
