"""Where the Edgegap API's seed (seeds/edgegap-api-docs.txt, edgegap-v2-openapi.txt) says what
an answer holds, ours holds it: self-stop's 401/403/404, the status object's fqdn, ports,
public_ip, command and arguments, a renamed tag's create_time, and the fleet host's
specifications; and the agent is handed the version's ports in the JSON older agents read. Every
answer is also checked against the OpenAPI document (running())."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from application.write_path import UnitOfWork
from domain.deployment import MAX_TAGS
from domain.node import Node
from tests.conftest import API_KEY
from tests.e2e.test_http_support import (
    AUTH,
    data,
    enroll,
    fixed_clock,
    issue_key,
    running,
    services_of,
)

pytestmark = pytest.mark.e2e
TOKEN = {"Authorization": f"token {API_KEY}"}


@dataclass(frozen=True)
class Placed:
    request_id: str
    node_id: str
    agent: dict[str, str]  # the node's bearer header
    env: dict[str, str]  # what the container is started with
    ports: list[dict[str, Any]]  # what it publishes, as the agent's work answer says it


def placed(client: TestClient, **version: Any) -> Placed:
    """A version deployed on a fresh healthy node in Montreal, handed to its agent."""
    enrolled = enroll(client, issue_key(client)["key"])
    node_id, agent = enrolled["node_id"], {"Authorization": f"Bearer {enrolled['api_token']}"}
    data(client.post("/api/v1/apps", headers=AUTH, json={"name": "game"}), 201)
    data(client.post("/api/v1/apps/game/versions", headers=AUTH, json={
        "name": "v1", "image": "localhost/game:1", "ports": [{"port": 7777, "protocol": "UDP"}],
        **version}), 201)
    data(client.patch(f"/api/v1/nodes/{node_id}/host", headers=AUTH, json={
        "location": {"city": "Montreal", "latitude": 45.5, "longitude": -73.6},
        "cpu_units": 2048, "memory_mb": 2048, "fleet": "north"}))
    data(client.post("/agent/v1/heartbeat", headers=agent, json={"status": "healthy"}))
    answer = client.post("/v2/deployments", headers=TOKEN, json={
        "application": "game", "version": "v1", "users": [
            {"user_type": "geo_coordinates", "user_data": {"latitude": 45, "longitude": -73}}]})
    assert answer.status_code == 202, answer.text
    work = data(client.post("/agent/v1/work", headers=agent, json={"wait_seconds": 0}))
    [start] = work["deployments"]
    return Placed(answer.json()["request_id"], node_id, agent, start["env"], start["ports"])


def test_the_agent_gets_the_ports_in_the_json_older_agents_read() -> None:
    # Typed now (PortMapping), but field for field the stored spec, name filled as before.
    with running() as client:
        assert placed(client).ports == [
            {"port": 7777, "protocol": "UDP", "name": "7777", "tls_upgrade": False}]


def test_self_stop_answers_401_without_a_token_403_with_a_wrong_one_404_if_unknown() -> None:
    with running() as client:
        deployment = placed(client)
        url = deployment.env["ARBITRIUM_DELETE_URL"]
        path = url[url.index("/v1/self/stop/"):]
        token = deployment.env["ARBITRIUM_DELETE_TOKEN"]
        missing = client.delete(path)
        assert missing.status_code == 401 and missing.json()["message"] == "Unauthorized"
        wrong = client.delete(path, headers={"authorization": token[:-1] + "x"})
        assert wrong.status_code == 403, wrong.text
        assert set(wrong.json()) == {"message", "details"}
        other_point = path.rsplit("/", 1)[0] + "/" + str(int(path.rsplit("/", 1)[1]) + 1)
        assert client.delete(other_point, headers={"authorization": token}).status_code == 403
        base = path.rsplit("/", 1)[0]
        # Not a number: no deployment's access point (int() refuses "²" though isdigit() is
        # true; it answered 500). Any header will do to get there.
        for point in ("abc", "%C2%B2", "%E2%91%A0", "%D9%A1%D9%A2", "9" * 40):
            odd = client.delete(f"{base}/{point}", headers={"authorization": "x"})
            assert odd.status_code == 403, (point, odd.text)
            assert set(odd.json()) == {"message", "details"}
        unknown = f"/v1/self/stop/000000000000/{path.rsplit('/', 1)[1]}"
        assert client.delete(unknown, headers={"authorization": token}).status_code == 404
        status = client.get(f"/v1/status/{deployment.request_id}", headers=TOKEN).json()
        assert status["current_status"] == "Status.DEPLOYING"  # none of those stopped it
        stopped = client.delete(path, headers={"authorization": token})
        assert stopped.status_code == 202, stopped.text


def test_a_renamed_tag_keeps_its_create_time_and_its_place() -> None:
    clock = fixed_clock()
    with running(clock=clock) as client:
        request_id = placed(client).request_id
        tags = f"/v1/deployments/{request_id}/tags"
        first = client.post(tags, headers=TOKEN, json={"name": "blue"}).json()
        clock.advance(5)
        client.post(tags, headers=TOKEN, json={"name": "green"})
        clock.advance(5)
        renamed = client.patch(f"{tags}/blue", headers=TOKEN, json={"name": "red"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["create_time"] == first["create_time"]
        assert renamed.json()["last_updated"] > first["last_updated"]
        listed = client.get(tags, headers=TOKEN).json()["tags"]
        assert [t["name"] for t in listed] == ["red", "green"]
        clock.advance(5)
        # The old name is free again: a new tag of its own, and each goes by its name.
        again = client.post(tags, headers=TOKEN, json={"name": "blue"}).json()
        assert again["create_time"] > first["create_time"]
        assert client.delete(f"{tags}/red", headers=TOKEN).status_code == 204
        assert [t["name"] for t in client.get(tags, headers=TOKEN).json()["tags"]] == [
            "green", "blue"]
        assert client.get(f"{tags}/blue", headers=TOKEN).json() == again


def test_a_tag_with_a_slash_is_reachable_and_tags_stop_at_64() -> None:
    with running() as client:
        tags = f"/v1/deployments/{placed(client).request_id}/tags"
        made = client.post(tags, headers=TOKEN, json={"name": "team/blue"})
        assert made.status_code == 200, made.text
        # Its path holds the name percent-encoded; it answered 404 to all three before.
        assert client.get(f"{tags}/team%2Fblue", headers=TOKEN).json()["name"] == "team/blue"
        renamed = client.patch(f"{tags}/team%2Fblue", headers=TOKEN, json={"name": "a/b/c"})
        assert renamed.status_code == 200 and renamed.json()["name"] == "a/b/c", renamed.text
        assert client.delete(f"{tags}/a%2Fb%2Fc", headers=TOKEN).status_code == 204
        for i in range(MAX_TAGS):
            assert client.post(tags, headers=TOKEN, json={"name": f"t{i}"}).status_code == 200
        over = client.post(tags, headers=TOKEN, json={"name": "one-more"})
        assert over.status_code == 400 and set(over.json()) == {"message", "details"}, over.text
        assert client.get(tags, headers=TOKEN).json()["count"] == MAX_TAGS


def test_a_fleet_host_shows_the_base_clock_its_agent_reports(any_url: str) -> None:
    # Every store: on PostgreSQL the report is written on the event loop (put_async).
    with running(any_url) as client:
        deployment = placed(client)

        def specifications() -> dict[str, Any]:
            [host] = client.get("/v2/private-fleets/north/hosts", headers=TOKEN).json()["data"]
            assert host["host_id"] == deployment.node_id
            spec: dict[str, Any] = host["fleet_host_specifications"]
            return spec

        assert specifications()["base_clock_speed_mhz"] is None  # nothing reported yet
        report = {"host": {"cpu": {"cores": 2, "base_clock_mhz": 2000}}, "agent": {}}
        data(client.post("/agent/v1/metrics", headers=deployment.agent, json=report))
        assert specifications() == {"cpu_units": 2048, "memory_mb": 2048,
                                    "base_clock_speed_mhz": 2000}
        # The node's own metrics keep the seed's figures (the clock is not one of them).
        figures = client.get(f"/api/v1/nodes/{deployment.node_id}/metrics/host", headers=AUTH)
        assert figures.status_code == 200, figures.text
        assert "base_clock_mhz" not in figures.text
        older = {"host": {"cpu": {"cores": 2}}, "agent": {}}  # an agent from before
        data(client.post("/agent/v1/metrics", headers=deployment.agent, json=older))
        assert specifications()["base_clock_speed_mhz"] is None


def test_the_status_names_the_deployment_and_fills_what_is_known() -> None:
    with running(deployment_domain="deployments.example.com") as client:
        deployment = placed(client, command="/bin/game", arguments="--port 7777")
        path = f"/v1/status/{deployment.request_id}"
        early = client.get(path, headers=TOKEN).json()
        assert early["fqdn"] == f"{deployment.request_id}.deployments.example.com"
        assert (early["command"], early["arguments"]) == ("/bin/game", "--port 7777")
        # Before READY: the version's ports, not yet published; no address yet.
        assert early["ports"] == {"7777": {
            "external": None, "internal": 7777, "protocol": "UDP", "name": "7777",
            "tls_upgrade": False, "link": None, "proxy": None}}
        assert early["public_ip"] is None
        data(client.post(f"/agent/v1/deployments/{deployment.request_id}/report",
                         headers=deployment.agent, json={
                             "state": "ready", "public_ip": "100.10.0.85", "ports": {
                                 "7777": {"name": "7777", "internal": 7777, "external": 31669,
                                          "protocol": "UDP", "link": "100.10.0.85:31669"}}}))
        ready = client.get(path, headers=TOKEN).json()
        assert ready["current_status"] == "Status.READY"
        assert ready["fqdn"] == early["fqdn"] and ready["public_ip"] == "100.10.0.85"
        assert ready["ports"]["7777"]["external"] == 31669
        assert ready["ports"]["7777"]["link"] == "100.10.0.85:31669"
        [listed] = client.get("/v1/deployments", headers=TOKEN).json()["data"]
        assert (listed["fqdn"], listed["public_ip"]) == (early["fqdn"], "100.10.0.85")


def test_without_a_deployment_domain_the_fqdn_is_null_not_an_address() -> None:
    with running() as client:
        deployment = placed(client)
        data(client.post(f"/agent/v1/deployments/{deployment.request_id}/report",
                         headers=deployment.agent, json={"state": "ready",
                                                         "public_ip": "100.10.0.85"}))
        status = client.get(f"/v1/status/{deployment.request_id}", headers=TOKEN).json()
        assert status["fqdn"] is None and status["public_ip"] == "100.10.0.85"


def _ready(client: TestClient, deployment: Placed) -> None:
    data(client.post(f"/agent/v1/deployments/{deployment.request_id}/report",
                     headers=deployment.agent, json={"state": "ready"}))


def _status(client: TestClient, request_id: str) -> Any:
    return client.get(f"/v1/status/{request_id}", headers=TOKEN).json()


def _allocated(client: TestClient, node_id: str) -> int:
    host = data(client.get(f"/api/v1/nodes/{node_id}/host", headers=AUTH))
    return int(host["allocated_cpu_units"])


@pytest.mark.parametrize("ready", [True, False])
def test_deleting_a_node_ends_its_deployments_and_frees_their_room(any_url: str,
                                                                    ready: bool) -> None:
    # A READY deployment stayed READY for good once its node was deleted, holding its room,
    # and a stop then waited for a node that would never carry it out.
    with running(any_url) as client:
        deployment = placed(client)
        if ready:
            _ready(client, deployment)
        assert _allocated(client, deployment.node_id) > 0
        assert client.delete(f"/api/v1/nodes/{deployment.node_id}",
                             headers=AUTH).status_code == 204
        status = _status(client, deployment.request_id)
        assert status["current_status"] == "Status.ERROR", status
        assert status["error_detail"] == f"node {deployment.node_id} was deleted"
        assert _allocated(client, deployment.node_id) == 0
        stopped = client.delete(f"/v1/stop/{deployment.request_id}", headers=TOKEN)
        assert stopped.status_code == 200, stopped.text
        assert _status(client, deployment.request_id)["current_status"] == "Status.TERMINATED"


def test_a_stop_asked_before_the_node_was_deleted_ends_terminated() -> None:
    with running() as client:
        deployment = placed(client)
        _ready(client, deployment)
        assert client.delete(f"/v1/stop/{deployment.request_id}", headers=TOKEN
                             ).status_code == 200
        assert _status(client, deployment.request_id)["current_status"] == "Status.READY"
        client.delete(f"/api/v1/nodes/{deployment.node_id}", headers=AUTH)
        assert _status(client, deployment.request_id)["current_status"] == "Status.TERMINATED"


def test_a_stop_on_a_node_deleted_without_ending_its_deployments_ends_it_at_once() -> None:
    # Deleted before node deletions ended their deployments: the node is gone, the deployment
    # still READY. A stop has no node to carry it out, so it ends there and then.
    with running() as client:
        deployment = placed(client)
        _ready(client, deployment)
        svc = services_of(client)

        def delete_node_alone(uow: UnitOfWork) -> None:
            uow.get(Node, UUID(deployment.node_id), "node").delete(uow.now)

        svc.writes.run(delete_node_alone)
        assert _status(client, deployment.request_id)["current_status"] == "Status.READY"
        stopped = client.delete(f"/v1/stop/{deployment.request_id}", headers=TOKEN)
        assert stopped.status_code == 200, stopped.text
        assert _status(client, deployment.request_id)["current_status"] == "Status.TERMINATED"
        assert _allocated(client, deployment.node_id) == 0
