"""The AsyncAPI document and event schemas are current, follow the catalog, and describe what the
service really publishes; the docs and event-type routes serve them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import msgspec
import pytest
import yaml  # type: ignore[import-untyped]
from starlette.applications import Starlette
from starlette.middleware import Middleware

from domain.catalog import EVENT_TYPES, PAYLOADS, PUBLIC_EVENTS, event_type, to_message
from domain.command_execution import CommandExecution
from domain.deployment import Deployment
from domain.enrollment_key import EnrollmentKey
from domain.environment import Environment
from domain.node import IdType, Node
from domain.node_status import NodeStatus
from domain.project import Project
from domain.resource import Resource
from domain.self_update import SelfUpdateRequest
from domain.ssh_access import SshLogin
from entrypoints.app import create_app
from entrypoints.http import event_types
from entrypoints.http.middleware import RequestContext
from entrypoints.http.openapi import SCHEMAS, asyncapi
from entrypoints.http.openapi import asyncdoc as event_docs
from tests.conftest import API_KEY, make_settings
from tests.contract import checking_client

pytestmark = pytest.mark.e2e

STALE = ("schemas/asyncapi.yaml or schemas/events/ is stale: run "
         "`python -m entrypoints.http.openapi.asyncapi`"
         " (and delete event schemas it no longer writes)")
AUTH = {"Authorization": f"Bearer {API_KEY}"}
DOCUMENT = asyncapi.build_asyncapi()
EVENT_SCHEMAS = asyncapi.build_event_schemas()
AT = datetime(2026, 1, 1, tzinfo=UTC)


def test_committed_files_are_current(tmp_path: Path) -> None:
    asyncapi.main([str(tmp_path)])
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated == sorted(Path(name) for name in asyncapi.rendered())
    committed_events = sorted(p.name for p in (SCHEMAS / "events").glob("*.json"))
    assert committed_events == sorted(p.name for p in (tmp_path / "events").iterdir()), STALE
    for name in generated:
        assert (SCHEMAS / name).read_text(encoding="utf-8") == (tmp_path / name).read_text(
            encoding="utf-8"), f"{name}: {STALE}"


def test_yaml_output_reads_back_as_the_document() -> None:
    text = (SCHEMAS / "asyncapi.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(text) == DOCUMENT
    tricky = {"a": ["", "yes", "x: y", "#1", " pad", "two\nlines", "tail\n", "é", 1.5, None],
              "b": [{"c": []}, [{}], {"d": {"e": True}}], "$ref": "edge.>"}
    assert yaml.safe_load(asyncapi.to_yaml(tricky)) == tricky


def test_channels_operations_and_messages_follow_the_catalog() -> None:
    names = [asyncapi.struct_name(kind) for kind in EVENT_TYPES]
    assert DOCUMENT["asyncapi"] == "3.0.0"
    assert list(DOCUMENT["channels"]) == list(EVENT_TYPES)
    assert [c["address"] for c in DOCUMENT["channels"].values()] == list(EVENT_TYPES)
    assert list(DOCUMENT["components"]["messages"]) == names
    assert len(DOCUMENT["operations"]) == len(EVENT_TYPES)
    for kind, name, operation in zip(EVENT_TYPES, names, DOCUMENT["operations"].values(),
                                     strict=True):
        assert operation["action"] == "send"
        assert operation["channel"] == {"$ref": f"#/channels/{kind}"}
        assert operation["messages"] == [{"$ref": f"#/channels/{kind}/messages/{name}"}]
        in_channel = _resolve(DOCUMENT, operation["messages"][0]["$ref"])
        assert in_channel == {"$ref": f"#/components/messages/{name}"}
        message = _resolve(DOCUMENT, in_channel["$ref"])
        assert message["title"] == kind
        envelope = _resolve(DOCUMENT, message["payload"]["$ref"])
        assert envelope["properties"]["type"]["enum"] == [kind]


def test_every_reference_resolves() -> None:
    refs = re.findall(r'"\$ref": "([^"]+)"', json.dumps(DOCUMENT))
    assert len(refs) > 4 * len(EVENT_TYPES)
    for ref in refs:
        assert _resolve(DOCUMENT, ref) is not None, ref
    for kind, schema in EVENT_SCHEMAS.items():
        assert schema["$id"] == f"https://edge.example/schemas/events/{kind}.v1.json"
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        for ref in re.findall(r'"\$ref": "([^"]+)"', json.dumps(schema)):
            assert ref.startswith("#/$defs/") and _resolve(schema, ref) is not None, ref


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_examples_validate_against_their_schemas(kind: str) -> None:
    message = DOCUMENT["components"]["messages"][asyncapi.struct_name(kind)]
    example = message["examples"][0]
    assert _errors(example["payload"], EVENT_SCHEMAS[kind]) == []
    assert _errors(example["payload"], message["payload"], DOCUMENT) == []
    assert _errors(example["headers"], message["headers"], DOCUMENT) == []
    assert example["headers"]["Nats-Msg-Id"] == example["payload"]["id"]
    assert example["headers"]["Edge-Position"] == str(example["payload"]["position"])


def test_schemas_reject_what_the_catalog_does_not_publish() -> None:
    schema = EVENT_SCHEMAS["edge.node.registered"]
    good = _example("edge.node.registered")
    assert _errors(good, schema) == []
    broken = [
        {**good, "type": "edge.node.reregistered"},
        {**good, "id": "not-a-uuid"},
        {**good, "occurred_at": "yesterday"},
        {key: value for key, value in good.items() if key != "data"},
        {**good, "data": {**good["data"], "version": 7}},
        {**good, "data": {k: v for k, v in good["data"].items() if k != "node_id"}},
    ]
    for message in broken:
        assert _errors(message, schema), message
    headers = DOCUMENT["components"]["schemas"]["NatsHeaders"]
    assert _errors({"Nats-Msg-Id": good["id"], "Edge-Position": "x1"}, headers, DOCUMENT)
    relayed = {"Nats-Msg-Id": good["id"], "Edge-Position": "1", "Edge-Schema-Version": "1"}
    assert _errors(relayed, headers, DOCUMENT) == []
    assert _errors({**relayed, "Edge-Replay": str(uuid.uuid4())}, headers, DOCUMENT) == []
    assert _errors({**relayed, "Edge-Replay": "run-7"}, headers, DOCUMENT)


def test_real_domain_events_match_the_schema_of_their_type() -> None:
    published = set()
    for position, domain_event in enumerate(_domain_events(), start=1):
        message = to_message(domain_event, position)
        if message is None:
            continue
        published.add(type(domain_event))
        body = msgspec.json.encode(message)
        decoded = json.loads(body)
        assert decoded["type"] == event_type(domain_event)
        assert _errors(decoded, EVENT_SCHEMAS[message.type]) == [], message.type
        # Strict decoding with the documented types, as a typed consumer would.
        typed: Any = msgspec.json.decode(body, type=asyncapi.envelope(message.type))
        assert typed.data == message.data
        assert b"secret-api-token" not in body and b"secret-proxy" not in body
    assert published == set(PUBLIC_EVENTS), "add a scenario step for the new public event"


def test_docs_routes_serve_the_document_and_its_page() -> None:
    with checking_client(_bare_app()) as client:
        raw = client.get("/asyncapi.yaml")
        as_json = client.get("/asyncapi.json")
        page = client.get("/asyncdoc")
    assert raw.status_code == as_json.status_code == page.status_code == 200
    assert raw.headers["content-type"].startswith("application/yaml")
    assert raw.content == (SCHEMAS / "asyncapi.yaml").read_bytes()
    assert as_json.headers["content-type"].startswith("application/json")
    assert as_json.json() == DOCUMENT
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script" not in html and "http://" not in html and "https://" not in html
    sections = [html.index(f'<section id="{kind}">') for kind in EVENT_TYPES]
    assert sections == sorted(sections), "channels must appear in catalog order"
    contents = [html.index(f'<a href="#{kind}">') for kind in EVENT_TYPES]
    assert contents == sorted(contents) and contents[-1] < sections[0]
    for kind, start, end in zip(EVENT_TYPES, sections, [*sections[1:], len(html)], strict=True):
        section = html[start:end]
        payload = PUBLIC_PAYLOAD_FIELDS[kind]
        assert all(f"<td><code>{field}</code></td>" in section for field in payload), kind
        assert "Nats-Msg-Id" in section and "<pre>" in section, kind
        assert asyncapi.TYPE_DOCS[kind].replace("'", "&#x27;") in section, kind
    assert "X-Edge-Signature" in html and "webhook-signature" in html


def test_event_types_needs_the_key_and_lists_the_catalog_in_order() -> None:
    with checking_client(_bare_app()) as client:
        anonymous = client.get("/api/v1/event_types")
        listed = client.get("/api/v1/event_types", headers=AUTH)
    assert anonymous.status_code == 401
    _assert_catalog(listed)


def test_event_types_through_create_app() -> None:
    app = create_app(make_settings("memory://"))
    if not any(getattr(route, "path", None) == "/api/v1/event_types" for route in app.routes):
        pytest.skip("entrypoints/http/app.py does not route event_types.ROUTES yet")
    with checking_client(app) as client:
        assert client.get("/api/v1/event_types").status_code == 401
        _assert_catalog(client.get("/api/v1/event_types", headers=AUTH))
        # It takes no parameter, and refuses one as every route does (it answered 200).
        paged = client.get("/api/v1/event_types", headers=AUTH, params={"page": "2"})
        assert paged.status_code == 400 and "page" in paged.json()["error"]["details"]
        assert client.get("/asyncdoc").status_code == 200


# --- helpers ---------------------------------------------------------------------------------
PUBLIC_PAYLOAD_FIELDS = {kind: PAYLOADS[kind].__struct_fields__ for kind in EVENT_TYPES}


def _assert_catalog(response: Any) -> None:
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == list(EVENT_TYPES)
    assert body["meta"]["request_id"] == response.headers["x-request-id"]
    assert body["meta"]["timestamp"].endswith("Z")


def _bare_app() -> Starlette:
    """What create_app would route, without services: the docs and the key-protected API."""
    settings = make_settings("memory://")
    app = Starlette(
        routes=[*event_docs.ROUTES, *event_types.ROUTES],
        middleware=[Middleware(RequestContext, api_keys=settings.named_api_keys(),
                               protected=("/api/",), public=[])],
    )
    app.state.settings = settings
    return app


def _example(kind: str) -> dict[str, Any]:
    message = DOCUMENT["components"]["messages"][asyncapi.struct_name(kind)]
    payload: dict[str, Any] = message["examples"][0]["payload"]
    return payload


def _domain_events() -> list[Any]:
    """One of every public domain event, made by the aggregates themselves."""
    key = EnrollmentKey.issue("token-0123456789", "https://admin.example", uuid.uuid4(), "prod",
                              "docs", 3, None, AT)
    node_id = uuid.uuid4()
    key.use(node_id, AT)
    node = Node.register(node_id, uuid.uuid4(), "prod", IdType.PERSISTENT, "1.0.0", True, {},
                         ("secret-api-token", "secret-proxy"), key.id, AT)
    node.reregister("1.1.0", False, {}, None, None, AT)
    node.change_status(NodeStatus.UNREACHABLE, "missed heartbeats", AT)
    node.move_to(uuid.uuid4(), "staging", AT)
    node.delete(AT)
    node.revive(uuid.uuid4(), "prod", None, True, {}, ("secret-api-token", "secret-proxy"),
                key.id, AT)
    request = SelfUpdateRequest(id=uuid.uuid4(), targeting={"type": "all"}, at=AT)
    request.start([node_id], AT)
    node.trigger_update(request.id, AT)
    request.record([node_id], [], AT)
    logins = [SshLogin(id=uuid.uuid4(), node_id=node_id, ssh_username_id=owner, username="ops",
                       method=method, outcome=outcome, fingerprint=print_, at=AT)
              for owner, method, outcome, print_ in (
                  (uuid.uuid4(), "publickey", "accepted", "SHA256:abc"),
                  (None, "password", "unknown_username", None))]
    return [*key.collect_events(), *node.collect_events(), *_execution_events(node_id),
            *request.collect_events(), *(e for login in logins for e in login.collect_events()),
            *_deployment_events(node_id), *_resource_events()]


def _deployment_events(node_id: uuid.UUID) -> list[Any]:
    """A deployment through its whole life (archived once over), and one that found no
    room."""
    spec = {"app": "game", "version": "1.0.3", "tags": ["blue"]}
    served = Deployment.request("a69f8e3e0555", spec, AT)
    served.place(node_id, {"city": "Montreal"}, AT)
    served.ready({"web": {"external": 31000}}, "203.0.113.7", AT)
    served.stop("stop requested", AT)
    served.terminated(143, AT)
    served.archive(AT)
    refused = Deployment.request("c0653765de3b", spec, AT)
    refused.fail_placement("Couldn't Allocate Server", AT)
    return [*served.collect_events(), *refused.collect_events()]


def _resource_events() -> list[Any]:
    """A project, an environment and a resource through their lives (secrets sealed)."""
    project = Project.create(uuid.uuid4(), "Shop", AT)
    project.rename("Storefront", AT)
    environment = Environment.create(uuid.uuid4(), project.id, "production", "production", AT)
    environment.rename("prod", AT)
    environment.set_variable("REGION", "runtime", "eu", None, AT)
    environment.unset_variable("REGION", "runtime", AT)
    environment.lock("freeze", AT)
    environment.unlock(AT)
    resource = Resource.create(uuid.uuid4(), project.id, environment.id, "Web Console", AT)
    resource.configure_source("busybox:1.36", AT)
    resource.configure_runtime("httpd", ["-f", "-p", "8080"], AT)
    resource.configure_network(8080, "http", AT)
    resource.configure_health({"enabled": True, "path": "/"}, AT)
    resource.reset_health(AT)
    resource.configure_rollback(True, AT)
    healthy, failed, back = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for attempt, outcome in ((healthy, "succeeded"), (failed, "failed")):
        resource.begin_deployment(attempt, "redeploy", AT)
        resource.settle_deployment(attempt, outcome, AT)
    resource.decide_automatic_rollback(failed, back, None, AT)
    resource.settle_deployment(back, "rolled-back", AT)
    resource.create_secret("TOKEN", "runtime", "k1:secret-api-token", AT)
    resource.delete_secret("TOKEN", "runtime", AT)
    served = uuid.uuid4()
    resource.begin_deployment(served, "create", AT)
    resource.settle_deployment(served, "succeeded", AT)
    stop = uuid.uuid4()
    resource.request_runtime_control(stop, "stop", served, AT)
    resource.observe_runtime(stop, "stopped", AT)
    resource.request_runtime_control(uuid.uuid4(), "start", served, AT)
    resource.fail_runtime_control(served, "runtime-ended", AT)
    late = uuid.uuid4()
    resource.request_runtime_control(late, "stop", served, AT)
    resource.expire_runtime_control(late, AT)
    resource.archive(AT)
    resource.delete_confirmed(resource.slug, AT)
    environment.archive("replaced", AT)
    project.archive("done", AT)
    project.restore(AT)
    project.archive(None, AT)
    project.delete(AT)
    environment.delete(AT)
    return [*project.collect_events(), *environment.collect_events(),
            *resource.collect_events()]


def _execution_events(node_id: uuid.UUID) -> list[Any]:
    """Every execution outcome: completed, cancelled (agent honoured it), expired, pruned."""
    events: list[Any] = []
    for outcome in ("completed", "cancelled", "expired"):
        execution = CommandExecution(
            id=uuid.uuid4(), command_id=uuid.uuid4(), node_id=node_id, cluster_name="prod",
            target_all=False, command_text="uptime", timeout=1000, expired_at=None,
            node_cluster_name="prod", at=AT)
        execution.send(AT)
        if outcome == "completed":
            execution.report(0, "up 3 days", AT)
        elif outcome == "cancelled":
            execution.cancel(AT)
            execution.report(143, "", AT)
        else:
            execution.expire("expired_at passed", AT)
        execution.prune(AT)
        events += execution.collect_events()
    return events


def _resolve(root: dict[str, Any], ref: str) -> Any:
    node: Any = root
    for token in ref.removeprefix("#/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
    "integer": int, "number": (int, float),
}
_ANNOTATIONS = {"$schema", "$id", "$defs", "title", "description", "examples", "default"}
_KEYWORDS = {"$ref", "anyOf", "type", "enum", "const", "format", "pattern", "properties",
             "required", "additionalProperties", "items"}


def _errors(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None,
            where: str = "$") -> list[str]:
    """The JSON Schema subset our schemas use; an unknown keyword fails rather than passes."""
    root = schema if root is None else root
    unknown = set(schema) - _ANNOTATIONS - _KEYWORDS
    assert not unknown, f"teach the test validator {sorted(unknown)} ({where})"
    if "$ref" in schema:
        return _errors(value, _resolve(root, schema["$ref"]), root, where)
    errors: list[str] = []
    if "anyOf" in schema and all(_errors(value, s, root, where) for s in schema["anyOf"]):
        errors.append(f"{where}: matches no anyOf option")
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, name) for name in names):
            return [*errors, f"{where}: {value!r} is not {names}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} != {schema['const']!r}")
    if isinstance(value, str):
        errors += _string_errors(value, schema, where)
    if isinstance(value, dict):
        missing = set(schema.get("required", [])) - value.keys()
        errors += [f"{where}: missing {name}" for name in sorted(missing)]
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key, extra)
            if sub is False:
                errors.append(f"{where}: unexpected {key}")
            elif isinstance(sub, dict):
                errors += _errors(item, sub, root, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += _errors(item, schema["items"], root, f"{where}[{index}]")
    return errors


def _is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _JSON_TYPES[name])


def _string_errors(value: str, schema: dict[str, Any], where: str) -> list[str]:
    errors = []
    if "pattern" in schema and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    try:
        if schema.get("format") == "uuid":
            uuid.UUID(value)
        if schema.get("format") == "date-time":
            if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", value):
                raise ValueError(value)
            datetime.fromisoformat(value)
    except ValueError:
        errors.append(f"{where}: {value!r} is not a {schema['format']}")
    return errors


def _asyncapi_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((Path(__file__).parent.parent / "data" / "asyncapi-3.0.0.schema.json")
                        .read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


def test_the_document_is_valid_asyncapi_3() -> None:
    document = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}"
              for e in _asyncapi_validator().iter_errors(document)]
    assert errors == []


def test_the_asyncapi_schema_catches_a_broken_document() -> None:
    document = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text(encoding="utf-8"))
    document["channels"] = {"broken": {"address": 5}}
    assert list(_asyncapi_validator().iter_errors(document))


PARSER = Path(__file__).parent.parent / "asyncapi_parser"


@pytest.fixture(scope="module")
def official_parser() -> Path:
    """@asyncapi/parser from the npm registry, installed once into tests/asyncapi_parser."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the official AsyncAPI parser")
    if not (PARSER / "node_modules" / "@asyncapi" / "parser").is_dir():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--no-save", "--silent"],
                       cwd=PARSER, check=True, timeout=300)
    return PARSER / "check.mjs"


def _parse(check: Path, document: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(check), str(document)], capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_official_asyncapi_parser_accepts_the_document(official_parser: Path) -> None:
    parsed = _parse(official_parser, SCHEMAS / "asyncapi.yaml")
    errors = [line for line in parsed.stdout.splitlines() if line.startswith("error")]
    assert (parsed.returncode, errors) == (0, []), parsed.stdout + parsed.stderr


def test_the_official_asyncapi_parser_refuses_a_broken_document(
    official_parser: Path, tmp_path: Path
) -> None:
    document = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text(encoding="utf-8"))
    document["operations"]["broken"] = {"action": "send",
                                        "channel": {"$ref": "#/channels/no-such-channel"}}
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(document), encoding="utf-8")
    parsed = _parse(official_parser, broken)
    assert parsed.returncode == 1
    assert "invalid-ref" in parsed.stdout
