"""Appaloft operations this service does not do answer 403 `forbidden`, documented, in
the house envelope naming the feature (README "Resources (Appaloft)"), whatever their ids and
body: never a 404 as for an unknown id, a 405, or a 400 about an id that is not one."""

from __future__ import annotations

import re

import pytest

from entrypoints.http.appaloft_unsupported import FEATURES, ROUTES
from tests.e2e.test_http_appaloft import Workflow
from tests.e2e.test_http_support import AUTH, error, running

pytestmark = pytest.mark.e2e


def test_every_operation_not_served_answers_403_naming_its_feature() -> None:
    with running() as client:
        flow = Workflow(client)  # real ids too: a known resource is no reason to serve it
        for route in ROUTES:
            path = re.sub(r"\{resourceId\}", flow.resource, route.path)
            path = re.sub(r"\{[^}]+\}", "anything", path)
            response = client.request(route.method, path, headers=AUTH, json={"a": 1})
            details = error(response, 403, "forbidden")
            [feature] = details["feature"]
            assert feature in FEATURES, route.path
            assert FEATURES[feature] in response.json()["error"]["message"]


def test_literal_segments_are_not_read_as_ids() -> None:
    with running() as client:
        for method, path in (("GET", "/resources/runtime-log-archives"),
                             ("GET", "/audit-events/archives"), ("POST", "/servers"),
                             ("POST", "/deployments/prune")):
            error(client.request(method, path, headers=AUTH), 403, "forbidden")
        # The served routes beside them still answer as they did.
        error(client.get("/resources/not-a-uuid", headers=AUTH), 400, "bad_request")
        assert client.get("/servers", headers=AUTH).status_code == 200


def test_unsupported_operations_still_need_the_key() -> None:
    with running() as client:
        error(client.post("/servers", json={}), 401, "unauthorized")
