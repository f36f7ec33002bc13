"""Nothing a client sends stops the service: values past what storage holds, NUL, invalid
UTF-8, deep nesting and oversized bodies are 4xx answers on every route of every API, and the
read model goes on (issue 14, items 2, 4 and 5), on every store."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.e2e.test_http_support import AUTH, error, issue_key, running, services_of

pytestmark = pytest.mark.e2e

HUGE = 2**63  # one past the largest bigint
DEEP = 5000  # past msgspec's own recursion limit
NESTED = 40  # past ours (32), within msgspec's


def json_body(value: Any) -> bytes:
    return json.dumps(value).encode()


def deep_array(depth: int) -> str:
    return "[" * depth + "]" * depth


def agent_node(client: TestClient) -> tuple[str, dict[str, str]]:
    """A node enrolled like an agent; its id and the header its token goes in."""
    enrolled = client.post("/agent/v1/enroll", json={"enrollment_key": issue_key(client)["key"]})
    assert enrolled.status_code == 201, enrolled.text
    found = enrolled.json()["data"]
    return str(found["node_id"]), {"Authorization": f"Bearer {found['api_token']}"}


def assert_still_serving(client: TestClient) -> None:
    assert services_of(client).projector.failure is None
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    made = client.post("/api/v1/clusters", headers=AUTH, json={"name": "after-probe"})
    assert made.status_code in (201, 409), made.text


# --- the cases the issue names -------------------------------------------------------------
def test_integers_past_64_bits_are_refused_where_they_were_stored(any_url: str) -> None:
    with running(any_url) as client:
        client.post("/api/v1/clusters", headers=AUTH, json={"name": "big"})
        limit = client.patch("/api/v1/clusters/big", headers=AUTH, json={"node_limit": HUGE})
        assert error(limit, 422, "validation_failed", {"node_limit"})
        uses = client.post("/api/v1/clusters/big/enrollment_keys", headers=AUTH,
                           json={"uses_remaining": HUGE})
        assert error(uses, 422, "validation_failed", {"uses_remaining"})
        largest = client.patch("/api/v1/clusters/big", headers=AUTH,
                               json={"node_limit": HUGE - 1})
        assert largest.status_code == 200
        assert largest.json()["data"]["node_limit"] == HUGE - 1
        _, token = agent_node(client)
        for path in ("/agent/v1/deployments/0123456789ab/report",
                     "/agent/v1/deployments/0123456789ab/telemetry"):
            body = {"state": "error", "exit_code": 2**70} if path.endswith("report") else {
                "exit_code": 2**70, "crashed": True}
            answer = client.post(path, headers=token, json=body)
            assert answer.status_code == 422, (path, answer.text)
            assert "exit_code" in answer.json()["error"]["details"]
        assert_still_serving(client)


def test_nul_is_refused_naming_the_field_not_altered(any_url: str) -> None:
    with running(any_url) as client:
        sent = {"command_text": "echo a\x00b", "targeting": {"type": "all"}}
        answer = client.post("/api/v1/commands", headers=AUTH, json=sent)
        assert error(answer, 422, "validation_failed", {"command_text"})
        assert "NUL" in answer.json()["error"]["details"]["command_text"][0]
        key = client.post("/api/v1/clusters/main/enrollment_keys", headers=AUTH,
                          json={"name": "a\x00"})
        assert error(key, 422, "validation_failed", {"name"})
        assert_still_serving(client)


def test_a_name_with_a_trailing_newline_is_refused(any_url: str) -> None:
    """Python's $ matched before a final newline: "nl\\n" became a cluster whose VPN domain held
    the newline, "bob\\n" an SSH username, "A\\n" a container's variable."""
    with running(any_url) as client:
        node, _ = agent_node(client)
        assert client.post("/api/v1/apps", headers=AUTH, json={"name": "game"}).status_code == 201
        ids = appaloft_ids(client)
        sent = [
            ("/api/v1/clusters", {"name": "nl\n"}, "name"),
            (f"/api/v1/nodes/{node}/aliases", {"name": "nl\n"}, "name"),
            (f"/api/v1/nodes/{node}/ssh_usernames", {"username": "bob\n"}, "username"),
            ("/api/v1/apps", {"name": "nl\n"}, "name"),
            ("/api/v1/apps/game/versions", {"name": "v1\n", "image": "busybox"}, "name"),
            ("/api/v1/apps/game/versions", {"name": "v1", "image": "busybox",
                                            "env": [{"key": "A\n", "value": "x"}]}, "env[0].key"),
            ("/api/v1/webhooks", {"url": "https://example.com/hook", "secret": "s" * 32,
                                  "headers": {"X-Team\n": "a"},
                                  "subscribed_events": ["edge.node.registered"]}, "headers"),
        ]
        for path, body, field in sent:
            answer = client.post(path, headers=AUTH, json=body)
            assert error(answer, 422, "validation_failed", {field}), (path, answer.text)
            assert "\\Z" not in answer.text, answer.text  # patterns show as JSON Schema's $
        variable = client.post(f"/resources/{ids['resourceId']}/variables", headers=AUTH,
                               json={"key": "A\n", "value": "x"})
        assert variable.status_code == 422 and "A\\n" not in json.dumps(
            client.get(f"/resources/{ids['resourceId']}", headers=AUTH).json()), variable.text
        names = [c["name"] for c in client.get("/api/v1/clusters", headers=AUTH).json()["data"]]
        assert "nl\n" not in names
        assert_still_serving(client)


def test_invalid_utf8_and_deep_nesting_are_4xx(any_url: str) -> None:
    with running(any_url) as client:
        node, token = agent_node(client)
        headers = {**AUTH, "content-type": "application/json"}
        bad = client.post("/api/v1/clusters", headers=headers, content=b'{"name": "a\xffb"}')
        assert error(bad, 400, "bad_request", {"body"})
        for depth, status in ((NESTED, 400), (DEEP, 400)):
            deploy = ('{"application": "x", "version": "y", "users": [{"user_type": '
                      '"ip_address", "user_data": {"ip_address": "1.2.3.4", "x": '
                      + deep_array(depth) + "}}]}")
            answer = client.post("/v2/deployments", headers=headers, content=deploy.encode())
            assert answer.status_code == status, answer.text  # Edgegap: a 400 {message}
            assert "nests more than 32 levels" in answer.text
        hosting = client.post("/deployments/app-hosting", headers=headers,
                              content=f'{{"config": {{"a": {deep_array(DEEP)}}}}}'.encode())
        assert hosting.status_code == 422 and "detail" in hosting.json()
        metrics = client.post("/agent/v1/metrics", headers={**token, "content-type":
                                                            "application/json"},
                              content=f'{{"host": {deep_array(990)}}}'.encode())
        assert 400 <= metrics.status_code < 500, metrics.text
        report = client.post("/agent/v1/deployments/0123456789ab/report",
                             headers={**token, "content-type": "application/json"},
                             content=('{"state": "ready", "ports": {"p": {"x": '
                                      + deep_array(DEEP) + "}}}").encode())
        assert 400 <= report.status_code < 500, report.text
        assert node
        assert_still_serving(client)


def test_app_hosting_keeps_to_the_body_limit() -> None:
    with running(max_body_bytes=4096) as client:
        big = b'{"deployment_name": "' + b"x" * 8192 + b'"}'
        answer = client.post("/deployments/app-hosting", headers=AUTH, content=big)
        assert answer.status_code == 413
        assert "4096 bytes" in answer.json()["detail"]


# --- every route, every hostile value ------------------------------------------------------
# Valid RFC 3339 times whose UTC instant is before year 1 or after year 9999.
EDGE_TIMES = ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00")
TIME_FIELDS = ("expired_at", "observed_at", "timestamp", "since", "from", "to", "at",
               "occurred_from", "occurred_to", "start_time", "end_time")
HOSTILE_BODIES = [
    b'{"name": "a\xffb"}',
    b"\xff\xfe",
    deep_array(DEEP).encode(),
    ('{"name": ' + deep_array(DEEP) + "}").encode(),
    ('{"name": ' + deep_array(NESTED) + "}").encode(),
    b'{"name": "a\\u0000b", "key": "\\u0000", "command_text": "\\u0000"}',
    json_body({k: 2**70 for k in ("node_limit", "uses_remaining", "exit_code", "timeout",
                                  "cpu_units", "memory_mb", "max_duration", "port")}),
    json_body({k: -(2**70) for k in ("node_limit", "uses_remaining", "exit_code")}),
    b"",
    b"null",
    b'"text"',
    b"{" * 3,
    # one field at a time: the bodies are decoded with unknown fields refused
    *(json_body({field: moment}) for field in TIME_FIELDS for moment in EDGE_TIMES),
    *(json_body({"command_text": "uptime", "targeting": {"type": "all"}, "expired_at": moment})
      for moment in EDGE_TIMES),
]
HOSTILE_QUERIES = [
    {"page": str(10**30), "page_size": "20"},
    {"page": "1", "page_size": str(10**30)},
    {"limit": str(10**30), "offset": str(10**30)},
    {"name": "a\x00b", "cluster_name": "\x00", "status": "\x00"},
    {"inserted_at_gte": "9999999999-01-01", "inserted_at_lte": "\x00"},
    {"node_count": str(10**30), "node_limit": str(-(10**30))},
    {"cursor": str(10**30), "after": str(10**30), "steps": "99999999999999999999h"},
    {"start_time": "\x00", "end_time": "99999-12-31 00:00:00.000000"},
    *({field: moment} for field in ("inserted_at__gte", "updated_at__lte", *TIME_FIELDS)
      for moment in EDGE_TIMES),
    # the largest position a cursor may name: the next one is not a stored integer
    {"position__gt": str(2**63 - 1)}, {"cursor": str(2**63 - 1)},
    {"position__lte": str(-(2**63)), "position__gte": str(2**63 - 1)},
]


def concrete(path: str, node: str, more: dict[str, str] | None = None) -> str:
    """A route's path with its parameters filled: real where it helps, unknown elsewhere."""
    values = {"node_id": node, "id": node, "name": "main", "cluster_name": "main",
              "app_name": "game", "version": "v1", "request_id": "0123456789ab",
              "serverId": node, "key": "API_KEY", **(more or {})}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "x"), path)


def appaloft_ids(client: TestClient) -> dict[str, str]:
    """A real project, environment, resource and deployment: the hostile bodies then reach
    the Appaloft routes' decoding instead of stopping at an unknown id."""
    def made(path: str, body: dict[str, Any]) -> str:
        answer = client.post(path, headers=AUTH, json=body)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    project = made("/projects", {"name": "hostile"})
    environment = made("/environments", {"projectId": project, "name": "prod"})
    resource = made("/resources", {"projectId": project, "environmentId": environment,
                                   "name": "web"})
    client.post(f"/resources/{resource}/source", headers=AUTH,
                json={"source": {"locator": "busybox:1"}})
    deployment = made("/deployments", {"projectId": project, "environmentId": environment,
                                       "resourceId": resource})
    return {"projectId": project, "environmentId": environment, "resourceId": resource,
            "deploymentId": deployment}


def test_no_route_answers_500_to_hostile_input(any_url: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    with running(any_url, max_body_bytes=65_536) as client:
        client.post("/api/v1/apps", headers=AUTH, json={"name": "game"})
        node, token = agent_node(client)
        appaloft = appaloft_ids(client)
        routes = [r for r in client.app.routes  # type: ignore[attr-defined]
                  if isinstance(r, Route)]
        failures: list[tuple[str, str, object, int]] = []
        for route in routes:
            path = concrete(route.path, node, appaloft)
            headers = {**(token if path.startswith("/agent/") else AUTH),
                       "content-type": "application/json"}
            for method in sorted((route.methods or set()) - {"HEAD"}):
                if method == "GET":
                    if path.endswith(("/stream", "/events/stream")):
                        continue  # long-lived; their parameters are checked in test_events_api
                    for params in HOSTILE_QUERIES:
                        answer = client.get(path, headers=headers, params=params)
                        if answer.status_code >= 500:
                            failures.append((method, path, params, answer.status_code))
                    continue
                for body in [*HOSTILE_BODIES, b"x" * 65_537]:
                    answer = client.request(method, path, headers=headers, content=body)
                    if answer.status_code >= 500:
                        failures.append((method, path, body[:60], answer.status_code))
        assert not failures, failures
        unhandled = [r.getMessage() for r in caplog.records
                     if r.name.startswith("entrypoints.http") and r.levelname == "ERROR"]
        assert not unhandled
        assert_still_serving(client)


AGENT_REPORTS = ("report", "telemetry", "progress", "health", "runtime-logs")
REPORT_BODIES = [
    json_body({"state": "error", "exit_code": HUGE, "detail": "\x00"}),
    json_body({"logs": "a\x00b", "sample": {"cpu_percent": HUGE, "memory_bytes": -HUGE}}),
    json_body({"phase": "start", "message": "x" * 1_000_000}),
    json_body({"lines": [{"stream": "stdout", "timestamp": "2026-12-02T09:00:00Z",
                          "message": "\x00"}] * 3}),
    json_body({"lines": [{"stream": "nope", "timestamp": "not a time", "message": "m"}]}),
    json_body({"status": "healthy", "observed_at": "2026-13-40T99:00:00Z"}),
]


def test_an_agents_reports_on_its_own_deployment_refuse_hostile_bodies(any_url: str) -> None:
    """The report endpoints check the node and the request id before the body, so the hostile
    bodies of the test above, sent for an unknown deployment, never reach their decoding: here
    they do, for a deployment of the reporting node."""
    from tests.e2e.test_http_runtime_logs import deployed

    with running(any_url, max_body_bytes=65_536) as client:
        _, token, _, request_id = deployed(client)
        headers = {**token, "content-type": "application/json"}
        answers = {(path, bytes(body[:40])): client.post(
            f"/agent/v1/deployments/{request_id}/{path}", headers=headers, content=body
        ).status_code for path in AGENT_REPORTS
            for body in [*HOSTILE_BODIES, *REPORT_BODIES, b"x" * 65_537]}
        # An empty body reads as {} (the house rule): telemetry, all optional, takes it.
        refused = {k: v for k, v in answers.items() if k[1] != b""}
        assert all(400 <= status < 500 for status in refused.values()), {
            k: v for k, v in refused.items() if not 400 <= v < 500}
        assert all(status < 500 for status in answers.values()), answers
        assert 404 not in answers.values(), answers  # each reached its body's decoding
        assert_still_serving(client)


# --- an agent's runtime-log batches, at and past their bounds --------------------------------
def log_line(**fields: str) -> dict[str, str]:
    return {"stream": "stdout", "timestamp": "2026-12-02T09:00:00Z", "message": "m", **fields}


# The largest count `after` may give: its batch's places (that count plus up to 500) stay within
# 64 bits, where the deployment's head keeps them.
LAST_PLACE = 2**63 - 1 - 500
NAIVE = "2026-12-02T09:00:01"  # no zone: it cannot be put beside the stored (zoned) stamps
RUNTIME_LOG_BODIES: list[tuple[bytes, int, str]] = [
    (json_body({"lines": [log_line(timestamp=NAIVE)]}), 422, "lines[0].timestamp"),
    # a bad line after a good one: nothing of the batch is stored
    (json_body({"lines": [log_line(), log_line(timestamp=NAIVE)]}), 422, "lines[1].timestamp"),
    (json_body({"lines": [log_line()], "after": {"timestamp": NAIVE}}), 422, "after.timestamp"),
    *((json_body({"lines": [log_line(), log_line(timestamp=moment)]}), 422, "lines[1].timestamp")
      for moment in EDGE_TIMES),
    *((json_body({"lines": [log_line()], "after": {"timestamp": moment}}), 422,
       "after.timestamp") for moment in EDGE_TIMES),
    (json_body({"lines": [log_line()], "after": {"stdout": HUGE}}), 422, "after.stdout"),
    (json_body({"lines": [log_line()], "after": {"timestamp": "2026-12-02T09:00:00Z",
                                                 "stderr": LAST_PLACE + 1}}), 422, "after.stderr"),
    (json_body({"lines": [log_line()], "after": {"stdout": -1}}), 422, "after.stdout"),
    (json_body({"lines": [log_line()], "after": {"timestamp": ""}}), 422, "after.timestamp"),
    (json_body({"lines": [log_line()], "after": {"timestamp": "x" * 60_000}}), 422,
     "after.timestamp"),
    (json_body({"lines": [log_line(message="x" * 8193)]}), 422, "lines[0].message"),
    (json_body({"lines": [log_line(), log_line(message="a\x00b")]}), 422, "lines[1].message"),
    (json_body({"lines": [log_line(stream="")]}), 422, "lines[0].stream"),
    (json_body({"lines": [log_line(timestamp="")]}), 422, "lines[0].timestamp"),
    (json_body({"lines": [log_line()], "after": {"stdout": [[[]]]}}), 422, "after.stdout"),
    (b'{"lines": [{"stream": "stdout", "timestamp": "2026-12-02T09:00:00Z", "message": "\xff"}]}',
     400, "body"),
    (('{"lines": [], "after": {"timestamp": ' + deep_array(NESTED) + "}}").encode(), 422,
     "after.timestamp"),
    (('{"lines": [], "after": ' + deep_array(DEEP) + "}").encode(), 400, "body"),
]


def test_runtime_log_batches_past_their_bounds_are_refused_and_nothing_stored(
        any_url: str) -> None:
    """A stamp without a zone was compared with the zoned ones stored (500); one whose UTC
    time is past year 9999 was stored, and on PostgreSQL every later batch failed reading the
    deployment's head back (500 for good); a count in `after` near 2**63 overflowed the head's
    place (500 on SQLite and PostgreSQL). Each is a 422 naming its field, stored in no part."""
    from tests.e2e.test_http_runtime_logs import deployed, logs

    with running(any_url, max_body_bytes=65_536) as client:
        flow, token, _, request_id = deployed(client)
        path = f"/agent/v1/deployments/{request_id}/runtime-logs"
        headers = {**token, "content-type": "application/json"}
        for body, status, field in RUNTIME_LOG_BODIES:
            answer = client.post(path, headers=headers, content=body)
            code = "validation_failed" if status == 422 else "bad_request"
            assert error(answer, status, code, {field}), (body[:80], answer.text)
        assert logs(client, flow.resource) == []
        # At the bounds: the first and last instants, and the largest count `after` may give.
        last = "9999-12-31T23:59:59.999999Z"
        edges = [log_line(timestamp="0001-01-01T00:00:00Z", message="first"),
                 log_line(timestamp=last)]
        assert client.post(path, headers=token, json={"lines": edges}).status_code == 200
        at_bound = {"lines": [log_line(timestamp=last, message="place")],
                    "after": {"timestamp": last, "stdout": LAST_PLACE}}
        for _ in range(2):  # sent again: its place is taken already
            answer = client.post(path, headers=token, json=at_bound)
            assert answer.status_code == 200, answer.text
            assert answer.json()["data"]["last_sequence"] == 3
        # Duplicate keys: the last one counts, as on every route (one outcome, not two).
        twice = b'{"lines": [' + json_body(log_line(timestamp=last)) + b'], "lines": []}'
        answer = client.post(path, headers=headers, content=twice)
        assert answer.json()["data"]["last_sequence"] == 3, answer.text
        assert [(e["message"], e["timestamp"]) for e in logs(client, flow.resource)] == [
            ("first", "0001-01-01T00:00:00Z"), ("m", last), ("place", last)]
        assert_still_serving(client)
