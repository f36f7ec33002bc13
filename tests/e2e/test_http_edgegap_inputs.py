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
