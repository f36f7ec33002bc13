"""Mengi's POST /deployments/app-hosting on the same deployments: region placement, its
response shape and statuses, and FastAPI-shaped validation errors."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

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
        assert (body["name"], body["status"], body["app_type"]) == ("shop", "provisioning",
                                                                   "helm")
        assert body["cluster_id"] == where["paris"] and body["region"] == "europe"
        assert body["cpu_request"] == 0.5 and body["memory_request_mb"] == 512
        status = client.get(f"/v1/status/{body['request_id']}", headers=AUTH).json()
        assert status["location"]["city"] == "Paris"
        host = data(client.get(f"/api/v1/nodes/{where['paris']}/host", headers=AUTH))
        assert (host["allocated_cpu_units"], host["allocated_memory_mb"]) == (512, 512)
        full = post(client, geographic_region="France", cpu_request=1)
        assert full.status_code == 200 and full.json()["status"] == "failed"
        assert full.json()["error_message"] == "Couldn't Allocate Server"


def test_what_cannot_run_here_is_a_fastapi_validation_error() -> None:
    with running() as client:
        hosts(client)
        for body, field in (({"geographic_region": "mars"}, "geographic_region"),
                            ({"geographic_region": "europe", "deployment_type": "helm"},
                             "deployment_type"),
                            ({"geographic_region": "europe", "docker_image": None},
                             "docker_image"),
                            ({"geographic_region": "europe", "environment_variables": ["X"]},
                             "environment_variables[0]")):
            answer = post(client, **body)
            assert answer.status_code == 422, answer.text
            [problem] = answer.json()["detail"]
            assert problem["loc"] == ["body", field] and problem["msg"]
        missing = client.post("/deployments/app-hosting", headers=AUTH, json={})
        assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body"]
        assert client.post("/deployments/app-hosting", json={}).status_code == 401
