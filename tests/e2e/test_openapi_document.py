"""The OpenAPI document is current, covers every route, and says what the running service does."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import asyncssh
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from starlette.routing import Route
from starlette.testclient import TestClient
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from entrypoints.app import create_app
from entrypoints.http.app import AGENT_ROUTES, API_ROUTES
from entrypoints.http.listing import ListSpec, text
from entrypoints.http.openapi import SCHEMAS
from entrypoints.http.openapi import document as openapi
from entrypoints.settings import Settings
from tests.conftest import API_KEY, make_settings
from tests.contract import checking_client, match

pytestmark = pytest.mark.e2e

STALE = ("schemas/openapi.json is stale: run "
         "`python -m entrypoints.http.openapi.document > schemas/openapi.json`")
AUTH = {"Authorization": f"Bearer {API_KEY}"}
DOCUMENT = openapi.build_openapi()
# Top-level house lists (the Edgegap ones have their own query strings, tested below); a list
# under a parent (a webhook's deliveries) needs a real parent and is covered with one in
# tests/integration/test_webhook_delivery.py.
LIST_PATHS = sorted(
    path for path, ops in DOCUMENT["paths"].items()
    if "{" not in path and path.startswith("/api/")
    and any(p["in"] == "query" for p in ops.get("get", {}).get("parameters", []))
    # a stream answered a valid query by staying open: its parameters are tested apart
    and "text/event-stream" not in ops["get"]["responses"]["200"].get("content", {})
)
EDGEGAP_LISTS = ("/v1/deployments", "/v1/locations")
PATH_SAMPLES = {"uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6", None: "prod"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with checking_client(create_app(make_settings("memory://"))) as test_client:
        yield test_client


def test_committed_document_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    committed_text = (SCHEMAS / "openapi.json").read_text(encoding="utf-8")
    assert json.loads(committed_text) == DOCUMENT, STALE
    openapi.main()
    assert capsys.readouterr().out == committed_text, STALE


def test_filter_wording_names_a_parameter_of_its_list() -> None:
    # The wording sits beside the ListSpec; a typo would otherwise be dropped without a word.
    with pytest.raises(LookupError, match="nmae"):
        ListSpec(params=(text("name"),), sortable=(), docs={"nmae": "Filter by name"})


def test_the_document_passes_openapi_spec_validator() -> None:
    OpenAPIV31SpecValidator(DOCUMENT).validate()


def test_served_document_covers_exactly_the_routes(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == DOCUMENT
    documented = {(m.upper(), p) for p, ops in DOCUMENT["paths"].items() for m in ops}
    routed = {
        (method, route.path_format)
        for route in [*API_ROUTES, *AGENT_ROUTES]
        if isinstance(route, Route)
        for method in (route.methods or set()) - {"HEAD"}
    }
    assert documented == routed


def test_documented_security_is_what_the_service_enforces(client: TestClient) -> None:
    for path, method, operation in _operations():
        samples = {p["name"]: _path_sample(p) for p in operation["parameters"] if p["in"] == "path"}
        url = path.format(**samples)
        status = client.request(method, url).status_code
        public = operation.get("security") == []
        assert (status != 401) == public, (method, path, status)
        assert public or "401" in operation["responses"], (method, path)


@pytest.mark.parametrize("path", LIST_PATHS)
def test_every_documented_query_parameter_is_accepted(client: TestClient, path: str) -> None:
    for param in _query_params(path):
        for value in _samples(param):
            query = {param["name"]: value, **_companions(path, param["name"])}
            response = client.get(path, params=query, headers=AUTH)
            assert response.status_code == 200, (param["name"], value, response.json())


@pytest.mark.parametrize("path", LIST_PATHS)
def test_values_outside_the_documented_schema_are_rejected(client: TestClient, path: str) -> None:
    for param in _query_params(path):
        query = {param["name"]: _invalid(param["schema"]), **_companions(path, param["name"])}
        response = client.get(path, params=query, headers=AUTH)
        assert response.status_code == 400, (param["name"], response.json())
        assert param["name"] in response.json()["error"]["details"]


@pytest.mark.parametrize("path", LIST_PATHS)
def test_an_undocumented_query_parameter_is_rejected(client: TestClient, path: str) -> None:
    response = client.get(path, params={"not_documented": "1"}, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"not_documented": ["is not a supported filter"]}


def test_responses_match_their_documented_schemas(client: TestClient) -> None:
    cluster = f"docs-{uuid.uuid4().hex[:8]}"
    check = _Checker(client)
    check("POST", "/api/v1/clusters", json={"name": cluster, "node_limit": 5})
    key = check("POST", "/api/v1/clusters/{cluster_name}/enrollment_keys",
                {"cluster_name": cluster}, json={"name": "docs", "uses_remaining": 3})
    enrolled = check("POST", "/agent/v1/enroll", json={"enrollment_key": key["data"]["key"]},
                     auth=None)
    token = {"Authorization": f"Bearer {enrolled['data']['api_token']}"}
    node = {"id": enrolled["data"]["node_id"], "node_id": enrolled["data"]["node_id"]}
    check("POST", "/agent/v1/register", json={"version": "1.2.3"}, auth=token)
    check("POST", "/agent/v1/heartbeat", json={"status": "unhealthy"}, auth=token)
    check("POST", "/agent/v1/work", json={"running": [], "wait_seconds": 0}, auth=token)
    check("GET", "/api/v1/nodes/{node_id}/metrics", node)  # 503: no report yet
    check("POST", "/agent/v1/metrics", auth=token, json={
        "host": {"cpu": {"cores": 2, "load_1m": 0.5}, "uptime": {"seconds": 5}},
        "agent": {"commands": {"synced_total": 1}}})
    for metrics in ("", "/host", "/agent"):
        check("GET", "/api/v1/nodes/{node_id}/metrics" + metrics, node)
    for admins in ("me", "my_admin_cluster", "admin_clusters", "edge_clusters",
                   "orphaned_clusters", "me/metrics"):
        check("GET", f"/api/v1/admins/{admins}")
    alias = check("POST", "/api/v1/nodes/{node_id}/aliases", node, json={"name": "docs-alias"})
    webhook = check("POST", "/api/v1/webhooks", json={
        "url": "https://93.184.216.34/hook", "secret": "s" * 32,
        "subscribed_events": ["edge.node.registered"], "headers": {"Authorization": "x"}})
    check("GET", "/api/v1/webhooks/{id}", {"id": webhook["data"]["id"]})
    check("GET", "/api/v1/event_types")
    command = check("POST", "/api/v1/commands", json={
        "command_text": "uptime", "timeout": 1000, "expired_at": "2999-01-01T00:00:00Z",
        "targeting": {"type": "clusters", "cluster_names": [cluster],
                      "node_filters": {"version": "1.*"}}})
    check("GET", "/api/v1/commands/{id}", {"id": command["data"]["id"]})
    [handed] = check("POST", "/agent/v1/work", json={"wait_seconds": 5}, auth=token)["data"][
        "executions"]
    [execution] = check("GET", "/api/v1/command_executions")["data"]
    assert handed["id"] == execution["id"]
    check("GET", "/api/v1/command_executions/{id}", {"id": execution["id"]})
    check("PATCH", "/api/v1/command_executions/{id}/cancel", {"id": execution["id"]})
    check("POST", "/agent/v1/work", json={"running": [handed["id"]], "wait_seconds": 5},
          auth=token)  # the cancel
    check("POST", "/agent/v1/executions/{id}/result", {"id": execution["id"]},
          json={"exit_code": 143, "output": "Terminated"}, auth=token)
    check("POST", "/agent/v1/executions/{id}/result", {"id": str(uuid.uuid4())},
          json={"exit_code": 0}, auth=token)  # 404
    check("PATCH", "/api/v1/command_executions/{id}/cancel", {"id": execution["id"]})  # 409
    update = check("POST", "/api/v1/self_update_requests", json={"targeting": {"type": "all"}})
    check("GET", "/api/v1/self_update_requests/{id}", {"id": update["data"]["id"]})
    check("DELETE", "/api/v1/self_update_requests/{id}", {"id": update["data"]["id"]})  # 409
    ssh_user = check("POST", "/api/v1/nodes/{node_id}/ssh_usernames", node, json={
        "username": "deploy", "password": "p" * 12,
        "public_keys": [{"key_name": "a", "public_key": _public_key()}]})
    user_id = {"id": ssh_user["data"]["id"], "ssh_username_id": ssh_user["data"]["id"]}
    ssh_key = check("POST", "/api/v1/ssh_usernames/{ssh_username_id}/ssh_public_keys", user_id,
                    json={"key_name": "b", "public_key": _public_key()})
    check("POST", "/api/v1/ssh_usernames/{ssh_username_id}/ssh_public_keys", user_id,
          json={"key_name": "b", "public_key": "ssh-rsa AAAA"})  # 422
    check("POST", "/agent/v1/ssh/verify", json={"username": "deploy", "method": "password",
                                                "password": "p" * 12}, auth=token)
    check("GET", "/api/v1/ssh_usernames/{id}", user_id)
    check("GET", "/api/v1/ssh_public_keys/{id}", {"id": ssh_key["data"]["id"]})
    app = {"app_name": "docs-app"}
    check("POST", "/api/v1/apps", json={"name": "docs-app"})
    check("POST", "/api/v1/apps/{app_name}/versions", app, json={
        "name": "v1", "image": "localhost/busybox:1", "ports": [{"port": 8080}],
        "env": [{"key": "HIDDEN", "value": "x", "is_hidden": True}]})
    check("GET", "/api/v1/apps/{app_name}/versions/{version}", {**app, "version": "v1"})
    check("PATCH", "/api/v1/nodes/{id}/host", node, json={
        "location": {"city": "Montreal", "latitude": 45.5, "longitude": -73.6},
        "cpu_units": 1024, "memory_mb": 1024, "fleet": "docs"})
    deploy = {"application": "docs-app", "version": "v1", "tags": ["docs"], "users": [
        {"user_type": "geo_coordinates", "user_data": {"latitude": 45, "longitude": -73}}]}
    check("POST", "/agent/v1/heartbeat", json={"status": "healthy"}, auth=token)  # placeable
    placed = check("POST", "/v2/deployments", json=deploy)
    deployment = {"request_id": placed["request_id"]}
    check("GET", "/v1/status/{request_id}", deployment)
    check("GET", "/v1/deployments")
    assert check("GET", "/v1/locations")["locations"]
    check("GET", "/v2/private-fleets/{fleet_name}/hosts", {"fleet_name": "docs"})
    check("POST", "/v1/deployments/{request_id}/tags", deployment, json={"name": "blue"})
    check("GET", "/v1/deployments/{request_id}/tags", deployment)
    refused = check("POST", "/agent/v1/deployments/{request_id}/report", deployment,
                    json={"state": "ready", "ports": {"8080": {"extern": 31000}}}, auth=token)
    assert list(refused["error"]["details"]) == ["ports[...].extern"]  # 422: ports are typed
    check("POST", "/agent/v1/deployments/{request_id}/report", deployment,
          json={"state": "ready", "ports": {"8080": {"external": 31000}}}, auth=token)
    ready = check("GET", "/v1/status/{request_id}", deployment)
    assert ready["ports"]["8080"] == {"external": 31000, "internal": None, "protocol": None,
                                      "name": "8080", "tls_upgrade": False, "link": None,
                                      "proxy": None}
    check("POST", "/agent/v1/deployments/{request_id}/telemetry", deployment, json={
        "logs": "started\n", "sample": {"cpu_percent": 1.5, "memory_bytes": 1024}}, auth=token)
    check("GET", "/v1/deployment/{request_id}/container-logs", deployment)
    check("GET", "/v1/metrics/deployment/{request_id}", deployment)
    check("GET", "/v1/metrics/deployment/{request_id}", deployment,
          params={"steps": "30s", "raw": "true", "start_time": "2021-07-10 00:00:00.00"})
    check("GET", "/v1/metrics/deployment/{request_id}", deployment,
          params={"raw": "maybe"})  # 400, Edgegap's error body
    check("DELETE", "/v1/self/stop/{request_id}/{access_point_id}",
          {**deployment, "access_point_id": "1"}, auth=None)  # 401: no delete token
    check("DELETE", "/v1/self/stop/{request_id}/{access_point_id}",
          {**deployment, "access_point_id": "1"}, auth={"authorization": "wrong"})  # 403
    check("DELETE", "/v1/stop/{request_id}", deployment)  # 200: READY
    check("POST", "/v2/private-fleets:deploy", json={**deploy, "private_host_ids": [node["id"]]})
    check("POST", "/v2/deployments", json={**deploy, "version": "nope"})  # 400
    hooked = check("POST", "/v2/deployments",
                   json={**deploy, "webhook_on_ready": {"url": "https://93.184.216.34/h"}})
    assert hooked["webhook_secret"]
    check("POST", "/deployments/app-hosting", json={
        "geographic_region": "montreal", "deployment_name": "docs", "docker_image": "x:1",
        "container_port": 8080})
    check("POST", "/deployments/app-hosting", json={
        "geographic_region": "mars", "deployment_name": "docs", "docker_image": "x:1"})  # 422
    too_big = check("POST", "/deployments/app-hosting", json={
        "geographic_region": "x", "deployment_name": "x" * Settings.max_body_bytes})
    assert "bytes" in too_big["detail"]  # 413
    check("POST", "/v1/deployments/bulk-stop", json={
        "filters": [{"field": "tags", "values": ["docs"], "filter_type": "any"}]})
    _appaloft(check, node["id"], token)
    for path in LIST_PATHS:
        assert check("GET", path)["data"], path
    assert check("GET", "/v1/deployments", params={"page": "1", "limit": "1"})["data"]
    check("GET", "/v1/locations", params={"app": "docs-app", "version": "v1",
                                          "type": "standard", "tags": "true"})
    check("DELETE", "/api/v1/ssh_public_keys/{id}", {"id": ssh_key["data"]["id"]})  # 204
    check("DELETE", "/api/v1/ssh_usernames/{id}", user_id)  # 204
    check("GET", "/api/v1/clusters/{name}", {"name": cluster})
    check("GET", "/api/v1/enrollment_keys/{id}", {"id": key["data"]["id"]})
    check("GET", "/api/v1/nodes/{id}", node)
    check("GET", "/api/v1/aliases/{id}", {"id": alias["data"]["id"]})
    check("GET", "/api/v1/nodes/{id}", {"id": str(uuid.uuid4())})  # 404 body
    check("DELETE", "/api/v1/clusters/{name}", {"name": cluster})  # 409: it still has a node
    check("POST", "/api/v1/clusters", json={"name": "Not Valid"})  # 422 body
    check("DELETE", "/api/v1/aliases/{id}", {"id": alias["data"]["id"]})  # 204
    check("DELETE", "/api/v1/command_executions/{id}", {"id": execution["id"]})  # 204
    check("DELETE", "/api/v1/commands/{id}", {"id": command["data"]["id"]})  # 204


def _appaloft(check: _Checker, node: str, token: dict[str, str]) -> None:
    """Every Appaloft operation once, each answer held to its documented schema."""
    project = check("POST", "/projects", json={"name": "Docs Shop"})["id"]
    ids = {"projectId": project}
    check("POST", "/projects/{projectId}/rename", ids, json={"name": "Docs Shop 2"})
    check("POST", "/projects/{projectId}/description", ids, json={"description": "d"})
    environment = check("POST", "/environments", json={"projectId": project, "name": "prod"})
    ids["environmentId"] = environment["id"]
    for path in ("/projects/count", "/projects/{projectId}", "/projects/{projectId}/delete-check",
                 "/environments/count", "/environments/{environmentId}",
                 "/environments/{environmentId}/effective-precedence"):
        check("GET", path, ids)
    check("POST", "/environments/{environmentId}/variables", ids,
          json={"key": "DB_PASSWORD", "value": "x", "isSecret": True})
    check("POST", "/environments/{environmentId}/variables", ids, json={"key": "M", "value": "1"})
    check("DELETE", "/environments/{environmentId}/variables/{key}", {**ids, "key": "M"},
          json={"exposure": "runtime"})
    check("POST", "/environments/{environmentId}/rename", ids, json={"name": "production"})
    check("POST", "/environments/{environmentId}/lock", ids, json={})
    check("POST", "/environments/{environmentId}/rename", ids, json={"name": "x"})  # 409
    check("POST", "/environments/{environmentId}/unlock", ids)
    resource = check("POST", "/resources", json={"projectId": project, "name": "docs web",
                                                 "environmentId": environment["id"]})
    ids["resourceId"] = resource["id"]
    plan = {"projectId": project, "environmentId": environment["id"],
            "resourceId": resource["id"]}
    check("GET", "/deployments/plan", params=plan)
    for path, body in (("source", {"source": {"locator": "localhost/busybox:1"}}),
                       ("runtime-profile", {"runtimeProfile": {"command": "httpd -f"}}),
                       ("network-profile", {"networkProfile": {"internalPort": 8080}}),
                       ("health-policy", {"healthCheck": {"type": "tcp"}}),
                       ("variables", {"key": "MODE", "value": "prod"}),
                       ("secrets", {"key": "API_KEY", "value": "s"})):
        check("POST", "/resources/{resourceId}/" + path, ids, json=body)
    check("POST", "/resources/{resourceId}/health-policy/reset", ids)
    check("POST", "/resources/{resourceId}/secrets/{key}", {**ids, "key": "API_KEY"},
          json={"value": "t"})
    check("POST", "/resources/{resourceId}/secrets", ids, json={"key": "OLD", "value": "s"})
    check("DELETE", "/resources/{resourceId}/secrets/{key}", {**ids, "key": "OLD"}, json={})
    check("DELETE", "/resources/{resourceId}/variables/{key}", {**ids, "key": "MODE"}, json={})
    for path in ("/resources/count", "/resources/{resourceId}", "/resources/{resourceId}/secrets",
                 "/resources/{resourceId}/effective-config", "/servers/count",
                 "/servers/{serverId}"):
        check("GET", path, {**ids, "serverId": node})
    deployment = check("POST", "/deployments", json={**plan, "serverId": node})["id"]
    ids["deploymentId"] = deployment
    check("DELETE", "/resources/{resourceId}", ids,
          json={"confirmation": {"resourceSlug": "nope"}})  # 422
    request_id = check("GET", "/deployments/{deploymentId}", ids)["deployment"]["requestId"]
    check("POST", "/agent/v1/deployments/{request_id}/report", {"request_id": request_id},
          json={"state": "error", "detail": "boom"}, auth=token)
    check("GET", "/deployments/{deploymentId}/recovery-readiness", ids)
    check("GET", "/deployments/count")
    retried = check("POST", "/deployments/{deploymentId}/retry", ids)["id"]
    check("POST", "/deployments/{deploymentId}/cancel", {"deploymentId": retried},
          json={"confirm": retried})
    check("POST", "/deployments/{deploymentId}/rollback", ids,
          json={"rollbackCandidateDeploymentId": retried})  # 409: never healthy
    check("POST", "/resources/{resourceId}/redeploy", ids)
    events = check("GET", "/audit-events", params={"aggregateId": resource["id"]})["items"]
    check("GET", "/audit-events/{auditEventId}", {"auditEventId": events[0]["auditEventId"]})
    check("GET", "/audit-events/{auditEventId}", {"auditEventId": str(uuid.uuid4())})  # 404
    check("POST", "/projects/{projectId}/archive", ids, json={})
    check("POST", "/projects/{projectId}/restore", ids)
    check("POST", "/environments/{environmentId}/archive", ids, json={})
    check("POST", "/resources/{resourceId}/archive", ids)
    check("DELETE", "/projects/{projectId}", ids,
          json={"confirmation": {"projectId": project}})  # 409: active


@pytest.mark.parametrize("path", EDGEGAP_LISTS)
def test_edgegap_lists_take_their_documented_query_parameters(client: TestClient,
                                                              path: str) -> None:
    for param in _query_params(path):
        schema = param["schema"]
        valid = {"integer": str(schema.get("maximum", 1)), "boolean": "false"}.get(
            schema.get("type"), (schema.get("enum") or ["x"])[0])
        response = client.get(path, params={param["name"]: valid}, headers=AUTH)
        assert response.status_code == 200, (param["name"], response.json())
        response = client.get(path, params={param["name"]: _invalid(schema, long=True)},
                              headers=AUTH)
        assert response.status_code == 400, (param["name"], response.json())
        assert list(response.json()["details"]) == [param["name"]]


def test_swagger_try_it_out_fills_in_no_filter(client: TestClient) -> None:
    """Swagger UI fills "Try it out" with a parameter's example, else its schema's example,
    else its default; whatever it fills in must answer as leaving the parameter out."""
    client.post("/api/v1/clusters", json={"name": f"fill-{uuid.uuid4().hex[:6]}"}, headers=AUTH)
    client.post("/api/v1/apps", json={"name": f"fill-{uuid.uuid4().hex[:6]}"}, headers=AUTH)
    for path in [*LIST_PATHS, *EDGEGAP_LISTS]:
        filled = {p["name"]: _as_query(value) for p in _query_params(path)
                  if (value := _swagger_fill(p)) is not None}
        plain = client.get(path, headers=AUTH).json()
        tried = client.get(path, params=filled, headers=AUTH).json()
        if "meta" in plain:
            plain, tried = plain["data"], tried["data"]
        assert tried == plain, (path, filled)
    for path, _, operation in _operations():
        for param in operation["parameters"]:
            assert "example" not in param and "examples" not in param, (path, param["name"])


def _swagger_fill(param: dict[str, Any]) -> Any:
    """What Swagger UI 5 puts in a query parameter's field (OpenAPI 3)."""
    schema = param["schema"]
    for value in (param.get("example"), schema.get("example"), schema.get("default"),
                  param.get("default")):
        if value is not None:
            return value
    return None


def _public_key() -> str:
    return asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()


def test_swagger_ui_is_served_from_local_assets_only(client: TestClient) -> None:
    response = client.get("/swaggerui")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html, "the page must work offline"
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {"/swaggerui/static/swagger-ui-bundle.js", "/swaggerui/static/swagger-ui.css"} <= set(
        assets)
    spec_url = re.search(r'url: "([^"]+)"', html)
    assert spec_url is not None and spec_url.group(1) == "/openapi.json"
    for url in [*assets, spec_url.group(1)]:
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url
    # Swagger UI renders OpenAPI 3.1 only from major version 5 on.
    assert int(swagger_ui_path.name.removeprefix("swagger-ui-").split(".")[0]) >= 5


# --- helpers ---------------------------------------------------------------------------------
def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in DOCUMENT["paths"].items():
        for method, operation in ops.items():
            yield path, method.upper(), operation


def _path_sample(param: dict[str, Any]) -> str:
    return PATH_SAMPLES[param["schema"].get("format")]


def _query_params(path: str) -> list[dict[str, Any]]:
    return [p for p in DOCUMENT["paths"][path]["get"]["parameters"] if p["in"] == "query"]


def _as_query(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def _samples(param: dict[str, Any]) -> list[str]:
    """The documented example, plus every allowed value of an enum (or a list of one)."""
    schema = param["schema"]
    values = [_as_query(schema["examples"][0])] if "examples" in schema else [
        _as_query(schema["default"])]
    enum = schema.get("enum") or schema.get("items", {}).get("enum") or []
    values += [str(v) for v in enum]
    if schema.get("type") == "array":
        values.append(",".join(enum))
    return values


def _companions(path: str, name: str) -> dict[str, str]:
    """order_directions needs as many order_by fields as it has entries."""
    if name != "order_directions":
        return {}
    order_by = next(p for p in _query_params(path) if p["name"] == "order_by")
    fields = order_by["schema"]["items"]["enum"]
    # Sorting by a field twice is allowed, so even a one-field list can take "asc,desc".
    return {"order_by": ",".join(fields if len(fields) > 1 else fields * 2)}


def _invalid(schema: dict[str, Any], long: bool = False) -> str:
    if long and schema.get("type") == "string" and "maxLength" in schema:
        return "x" * (int(schema["maxLength"]) + 1)
    if schema.get("type") == "integer":
        return "0" if "minimum" in schema else "abc"
    if schema.get("type") == "boolean":
        return "maybe"
    if schema.get("format") == "uuid":
        return "not-a-uuid"
    if "enum" in schema or "enum" in schema.get("items", {}):
        return "not-an-option"
    if "anyOf" in schema:
        return "yesterday"
    return ""


class _Checker:
    """Calls the service through the checking client, which validates the status and the body
    against the document (tests/contract.py); returns the JSON body."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def __call__(
        self, method: str, template: str, path_params: dict[str, str] | None = None,
        json: Any = None, auth: dict[str, str] | None = AUTH,
        params: dict[str, str] | None = None,
    ) -> Any:
        url = template.format(**(path_params or {}))
        assert match(url) == template, (url, template)
        response = self.client.request(method, url, json=json, headers=auth, params=params)
        return response.json() if response.content else None


@pytest.mark.parametrize("timeout", [0, -1])
def test_the_command_timeout_documents_the_minimum_it_enforces(client: TestClient,
                                                              timeout: int) -> None:
    # The seed documents `minimum: 1`; ours said nothing, so a client built from the document
    # could send 0 and only learn from the 422.
    schema = DOCUMENT["components"]["schemas"]["CommandCreateRequest"]["properties"]["timeout"]
    (number,) = [s for s in schema["anyOf"] if s.get("type") == "integer"]
    assert number["minimum"] == 1
    refused = client.post("/api/v1/commands", headers=AUTH, json={
        "command_text": "true", "targeting": {"type": "all"}, "timeout": timeout})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"] == {"timeout": ["must be greater than 0"]}
