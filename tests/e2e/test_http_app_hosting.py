"""Mengi's POST /deployments/app-hosting on the same deployments: region placement, its
response shape and statuses, and FastAPI-shaped validation errors."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from domain.shared import name_id
from tests.e2e.test_http_support import AUTH, add_node, data, running

pytestmark = pytest.mark.e2e
PLACES = {"paris": {"city": "Paris", "country": "France", "continent": "Europe",
                    "latitude": 48.86, "longitude": 2.35},
          "montreal": {"city": "Montreal", "country": "Canada", "continent": "North America",
                       "latitude": 45.5, "longitude": -73.57}}


def hosts(client: TestClient) -> dict[str, str]:
    found = {}
    for name, place in PLACES.items():
        node = add_node(client)
        data(client.patch(f"/api/v1/nodes/{node}/host", headers=AUTH, json={
            "location": place, "cpu_units": 1024, "memory_mb": 1024}))
        found[name] = node
    return found


def post(client: TestClient, **body: Any) -> Any:
    return client.post("/deployments/app-hosting", headers=AUTH, json={
        "deployment_name": "shop", "docker_image": "localhost/shop:1", "container_port": 8080,
        **body})


def test_a_docker_app_lands_in_its_region_and_answers_in_mengis_shape(any_url: str) -> None:
    with running(any_url, placement_snapshot=0) as client:
        where = hosts(client)
        answer = post(client, geographic_region="europe", cpu_request=0.5,
                      memory_request_mb=512, environment_variables=["MODE=prod"])
        assert answer.status_code == 200, answer.text
        body = answer.json()
        # Not the request's default (helm): what runs is a container.
        assert (body["name"], body["status"], body["app_type"]) == ("shop", "provisioning",
                                                                   "container")
        assert body["user_id"] == str(name_id("api-key-user", "API_KEY"))
        assert body["cluster_id"] == where["paris"] and body["region"] == "europe"
        assert body["cpu_request"] == 0.5 and body["memory_request_mb"] == 512
        status = client.get(f"/v1/status/{body['request_id']}", headers=AUTH).json()
        assert status["location"]["city"] == "Paris"
        host = data(client.get(f"/api/v1/nodes/{where['paris']}/host", headers=AUTH))
        assert (host["allocated_cpu_units"], host["allocated_memory_mb"]) == (512, 512)
        listed = client.get("/v1/deployments", headers=AUTH).json()["total_count"]
        full = post(client, geographic_region="France", cpu_request=1)
        # Mengi's one documented error, and nothing is recorded (a 422 creates nothing).
        assert full.status_code == 422, full.text
        [problem] = full.json()["detail"]
        assert problem["loc"] == ["body", "geographic_region"]
        assert problem["msg"].startswith("Couldn't Allocate Server")
        assert client.get("/v1/deployments", headers=AUTH).json()["total_count"] == listed


def test_app_type_is_what_was_asked_and_the_owner_is_the_key_that_asked() -> None:
    with running(master_key="the-master-key") as client:
        hosts(client)
        api = post(client, geographic_region="europe", app_type="web_app").json()
        assert api["app_type"] == "web_app"
        master = client.post("/deployments/app-hosting",
                             headers={"Authorization": "Bearer the-master-key"}, json={
                                 "geographic_region": "europe", "deployment_name": "m",
                                 "docker_image": "localhost/shop:1", "app_type": "helm"}).json()
        assert master["app_type"] == "container"
        assert master["user_id"] == str(name_id("api-key-user", "MASTER_KEY")) != api["user_id"]
        odd = post(client, geographic_region="europe", app_type="mainframe")
        assert odd.status_code == 422 and odd.json()["detail"][0]["loc"] == ["body", "app_type"]


def test_what_cannot_run_here_is_a_fastapi_validation_error() -> None:
    with running() as client:
        hosts(client)
        for body, field in (({"geographic_region": "mars"}, "geographic_region"),
                            ({"geographic_region": "europe", "deployment_type": "helm"},
                             "deployment_type"),
                            ({"geographic_region": "europe", "docker_image": None},
                             "docker_image"),
                            ({"geographic_region": "europe", "environment_variables": ["X"]},
                             ("environment_variables", 0)),
                            # Each of these was taken and ignored or bent.
                            ({"geographic_region": "europe", "replicas": 0}, "replicas"),
                            ({"geographic_region": "europe", "storage_size_gb": -1},
                             "storage_size_gb"),
                            ({"geographic_region": "europe",
                              "volumes": [{"path": "/data", "sizeGb": 10}]}, "volumes"),
                            ({"geographic_region": "europe",
                              "environment_variables": ["A B=1"]}, ("environment_variables", 0)),
                            ({"geographic_region": "europe",
                              "environment_variables": ["ARBITRIUM_REQUEST_ID=x"]},
                             ("environment_variables", 0)),
                            # Placed, then refused by the engine on the node.
                            ({"geographic_region": "europe", "docker_image": "busybox\n"},
                             "docker_image"),
                            ({"geographic_region": "europe", "docker_image": "a b"},
                             "docker_image"),
                            ({"geographic_region": "europe", "deployment_name": "m\n"},
                             "deployment_name"),
                            ({"geographic_region": "europe", "cpu_request": 0}, "cpu_request"),
                            ({"geographic_region": "europe",
                              "environment_variables": ["A=1"] * 257}, "environment_variables")):
            answer = post(client, **body)
            assert answer.status_code == 422, answer.text
            [problem] = answer.json()["detail"]
            # FastAPI's loc: an item of a list is its index after the list's name.
            where = list(field) if isinstance(field, tuple) else [field]
            assert problem["loc"] == ["body", *where] and problem["msg"], problem
            assert not problem["msg"].startswith("Expected"), problem  # words, not msgspec's
        missing = client.post("/deployments/app-hosting", headers=AUTH, json={})
        # FastAPI's loc names the field (it was ["body"] with msgspec's whole message).
        assert missing.status_code == 422
        assert missing.json()["detail"][0]["loc"] == ["body", "geographic_region"]
        nested = post(client, geographic_region="europe", volumes=[{"path": "/d", "sizeGb": -1}])
        assert nested.json()["detail"][0]["loc"] == ["body", "volumes", 0, "sizeGb"]
        assert client.post("/deployments/app-hosting", json={}).status_code == 401


def test_the_smallest_cpu_request_still_takes_one_unit() -> None:
    # round(1e-9 * 1024) was 0 units: a container without a CPU limit, taking no room.
    with running(placement_snapshot=0) as client:
        where = hosts(client)
        answer = post(client, geographic_region="europe", cpu_request=1e-9,
                      memory_request_mb=64)
        assert answer.status_code == 200, answer.text
        host = data(client.get(f"/api/v1/nodes/{where['paris']}/host", headers=AUTH))
        assert host["allocated_cpu_units"] == 1
