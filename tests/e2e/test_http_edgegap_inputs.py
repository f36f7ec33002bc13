"""Edgegap clients send fields of Edgegap's API we do not implement: those are ignored, as
Edgegap ignores them, while the fields we read stay typed and bounded."""

from __future__ import annotations

import pytest

from tests.conftest import API_KEY
from tests.e2e.test_http_support import running

pytestmark = pytest.mark.e2e
AUTH = {"Authorization": f"token {API_KEY}"}
DEPLOY = {"application": "no-such-app", "version": "v1",
          "users": [{"user_type": "ip_address", "user_data": {"ip_address": "1.2.3.4"}}]}


@pytest.mark.parametrize(("path", "extra"), [
    ("/v2/deployments", {"filters": [], "container_log_storage": {"enabled": True}}),
    ("/v2/private-fleets:deploy", {"private_host_ids": ["h-1"], "new_field_2027": 1}),
])
def test_unknown_fields_are_ignored_known_ones_still_checked(path: str, extra: dict[str, object]
                                                             ) -> None:
    with running() as client:
        ignored = client.post(path, headers=AUTH, json={**DEPLOY, **extra})
        # Past decoding, to the seed's answer for an application that does not exist.
        assert ignored.json()["message"] == "Invalid Application or Application Version"
        checked = client.post(path, headers=AUTH, json={**DEPLOY, **extra, "users": []})
        assert checked.status_code in (400, 422)
        assert "users" in checked.text


def test_a_private_fleet_deploy_names_at_least_one_host() -> None:
    with running() as client:
        answer = client.post("/v2/private-fleets:deploy", headers=AUTH, json=DEPLOY)
        assert answer.status_code in (400, 422)
        assert "private_host_ids" in answer.text


@pytest.mark.parametrize("key", ["A=B", "A B", "1ABC", "ARBITRIUM_REQUEST_ID", "A\n"])
def test_a_deploy_time_variable_follows_the_versions_key_rule(key: str) -> None:
    # "A=B" gave the container A="B=v"; ARBITRIUM_* were silently overridden by the platform.
    with running() as client:
        variables = [{"key": key, "value": "v", "is_hidden": False}]
        answer = client.post("/v2/deployments", headers=AUTH,
                             json={**DEPLOY, "environment_variables": variables})
        assert answer.status_code == 400, answer.text
        assert "environment_variables[0].key" in answer.json()["details"], answer.text


def test_a_version_the_engine_could_not_start_is_refused() -> None:
    # The agent splits command and arguments as a shell would; an unbalanced quote crashed
    # its start and left the deployment DEPLOYING for the whole start deadline.
    with running() as client:
        bearer = {"Authorization": f"Bearer {API_KEY}"}
        assert client.post("/api/v1/apps", headers=bearer, json={"name": "game"}
                           ).status_code == 201
        for field, text in (("arguments", "-c 'echo hi"), ("command", '/bin/sh -c "x'),
                            ("image", "busybox\x7f"), ("image", "busybox\u200b")):
            answer = client.post("/api/v1/apps/game/versions", headers=bearer, json={
                "name": "v1", "image": "busybox", field: text})
            assert answer.status_code == 422, answer.text
            assert field in answer.json()["error"]["details"], answer.text
        fine = client.post("/api/v1/apps/game/versions", headers=bearer, json={
            "name": "v1", "image": "busybox", "command": "/bin/sh",
            "arguments": "-c 'echo \"hi there\"'"})
        assert fine.status_code == 201, fine.text


@pytest.mark.parametrize(("path", "body"), [
    ("/v2/deployments", b"null"),
    ("/v2/deployments", b"{"),
    ("/v2/private-fleets:deploy", b'{"application": "a", "version": "v", "users": [{"user_type":'
     b' "ip_address", "user_data": {"ip_address": "1.2.3.4"}}], "private_host_ids": ["h", "h"]}'),
])
def test_every_bad_request_says_what_edgegap_says(path: str, body: bytes) -> None:
    # Some said the house API's "Invalid request parameters" instead.
    with running() as client:
        refused = client.post(path, headers={**AUTH, "Content-Type": "application/json"},
                              content=body)
        assert refused.status_code == 400
        assert refused.json()["message"] == "Client Side Request Error"
