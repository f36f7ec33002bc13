"""POST /deployments/{id}/archive (Appaloft's archive of a terminal attempt): it answers
{id, archivedAt}, again with the same archivedAt; an active attempt is a 409; lists and counts
leave archived attempts out unless includeArchived=true, while the show still answers them.
Before, the route was a 403 `deployment-archive`. And an attempt's logCount: how many lines
its log has (it was always 0)."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.test_http_appaloft import Workflow, configured, get, post
from tests.e2e.test_http_appaloft_progress import say
from tests.e2e.test_http_support import AUTH, error

pytestmark = pytest.mark.e2e


def test_a_terminal_attempt_is_archived_once_and_left_out_of_lists(any_url: str) -> None:
    with configured(any_url) as (flow, _, token):
        client = flow.client
        first = flow.deploy()
        refused = client.post(f"/deployments/{first}/archive", headers=AUTH,
                              json={"confirm": first})
        error(refused, 409, "conflict")
        assert flow.show(first)["deployment"]["archivedAt"] is None
        flow.report(token, first, "ready")
        second = flow.deploy()
        flow.report(token, second, "error")

        archived = post(client, f"/deployments/{first}/archive", {"confirm": first})
        assert archived["id"] == first and archived["archivedAt"]
        again = post(client, f"/deployments/{first}/archive", {"confirm": first})
        assert again == archived  # archiving it again changes nothing

        shown = flow.show(first)["deployment"]
        assert (shown["status"], shown["archivedAt"]) == ("succeeded", archived["archivedAt"])
        listed = get(client, "/deployments", resourceId=flow.resource)["items"]
        assert [d["id"] for d in listed] == [second]
        assert get(client, "/deployments/count", resourceId=flow.resource) == {"count": 1}
        everything = get(client, "/deployments", resourceId=flow.resource,
                         includeArchived="true")["items"]
        assert [(d["id"], d["archivedAt"]) for d in everything] == [
            (second, None), (first, archived["archivedAt"])]
        assert get(client, "/deployments/count", resourceId=flow.resource,
                   includeArchived="true", status="succeeded") == {"count": 1}
        # Its history stays readable, and it is still what a rollback can return to.
        assert get(client, f"/deployments/{first}/logs")["logs"]
        back = post(client, f"/deployments/{second}/rollback",
                    {"rollbackCandidateDeploymentId": first}, 201)["id"]
        assert flow.status(back) == "running"


def test_archive_refuses_what_it_cannot_do(any_url: str) -> None:
    with configured(any_url) as (flow, _, token):
        client = flow.client
        first = flow.deploy()
        flow.report(token, first, "error")
        unknown = str(uuid.uuid4())
        error(client.post(f"/deployments/{unknown}/archive", headers=AUTH,
                          json={"confirm": unknown}), 404, "not_found")
        malformed = client.post("/deployments/not-a-uuid/archive", headers=AUTH,
                                json={"confirm": "not-a-uuid"})
        assert malformed.status_code == 400, malformed.text
        error(client.post(f"/deployments/{first}/archive", headers=AUTH,
                          json={"confirm": unknown}), 422, "validation_failed", {"confirm"})
        for body in ({}, {"confirm": first, "reason": "x"}, {"confirm": ""}, [first]):
            sent = client.post(f"/deployments/{first}/archive", headers=AUTH, json=body)
            assert sent.status_code in (400, 422), (body, sent.text)
        not_json = client.post(f"/deployments/{first}/archive", headers=AUTH,
                               content=b"{", )
        assert not_json.status_code == 400, not_json.text
        assert flow.show(first)["deployment"]["archivedAt"] is None  # nothing was recorded
        assert post(client, f"/deployments/{first}/archive", {"confirm": first})["id"] == first


def _counts(flow: Workflow, deployment: str) -> tuple[int, int, int, int]:
    """(logCount in the list item, in the show, in its timeline; the lines of its log)."""
    client = flow.client
    listed = get(client, "/deployments", resourceId=flow.resource, includeArchived="true")
    item = next(d for d in listed["items"] if d["id"] == deployment)
    shown = flow.show(deployment)
    logs = get(client, f"/deployments/{deployment}/logs")["logs"]
    return (item["logCount"], shown["deployment"]["logCount"], shown["timeline"]["logCount"],
            len(logs))


def test_log_count_is_how_many_lines_its_log_has(any_url: str) -> None:
    """logCount was always 0; it counts what GET /deployments/{id}/logs answers (lifecycle
    lines, the agent's progress, the container's lines shown), kept as lines are stored."""
    with configured(any_url) as (flow, _, token):
        client = flow.client

        def telemetry(deployment: str, logs: str, crashed: bool = False) -> None:
            request_id = flow.show(deployment)["deployment"]["requestId"]
            sent = client.post(f"/agent/v1/deployments/{request_id}/telemetry", headers=token,
                               json={"logs": logs, "crashed": crashed,
                                     "exit_code": 1 if crashed else None})
            assert sent.status_code == 200, sent.text

        quiet = flow.deploy()
        assert _counts(flow, quiet) == (2, 2, 2, 2)  # planned, placed
        flow.report(token, quiet, "ready")  # started, and its health check passed: two lines
        assert _counts(flow, quiet) == (4, 4, 4, 4)
        telemetry(quiet, "one\ntwo\nthree\n")
        assert _counts(flow, quiet) == (7, 7, 7, 7)
        telemetry(quiet, "".join(f"line {n}\n" for n in range(1200)))  # the last 1000 shown
        assert _counts(flow, quiet) == (1004, 1004, 1004, 1004)
        telemetry(quiet, "boom\n", crashed=True)
        telemetry(quiet, "after\nthe\ncrash\n")  # the crash's lines are what is shown
        assert _counts(flow, quiet) == (5, 5, 5, 5)

        told = flow.deploy()
        request_id = flow.show(told)["deployment"]["requestId"]
        for phase, message in (("pull", "image found"), ("start", "container started")):
            say(flow, token, request_id, phase, message)
        assert _counts(flow, told) == (4, 4, 4, 4)
        flow.report(token, told, "ready")  # its progress told the start: one line
        assert _counts(flow, told) == (5, 5, 5, 5)
        # The healthy one stops the one it replaces: a line more there, its own count.
        assert _counts(flow, quiet) == (6, 6, 6, 6)
