"""build_asyncapi(): the AsyncAPI 3.0 document of the edge.* catalog; build_event_schemas(): one
JSON Schema per event type. Channels follow EVENT_TYPES, schemas are msgspec's view of the payload
structs inside the `Message` envelope, examples are encoded `Message`s, NATS headers are the
relay's and those `edge-admin events replay` adds. Only wording and samples live here; a missing
one fails the build. Regenerate the committed copies with `python -m
entrypoints.http.openapi.asyncapi [DIR]`; a test fails when they are stale.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec

from application.event_replay import replay_headers
from domain.catalog import EVENT_TYPES, PAYLOADS, SCHEMA_VERSION, SOURCE, Message, message_id
from domain.event_stream import StreamSettings, headers_for
from entrypoints.http.openapi import SCHEMAS

Schema = dict[str, Any]
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_BASE = "https://edge.example/schemas/events/"
COMPONENTS = "#/components/schemas/{name}"
SAMPLE_AT = datetime(2025, 6, 9, 8, 0, tzinfo=UTC)
SAMPLE_POSITION = 1040


def description(stream: StreamSettings) -> str:
    """The document's overview, naming the stream and subjects this admin publishes to."""
    return f"""Lifecycle events of Edge Admin, one channel per catalog type (the list `GET \
/api/v1/event_types` returns, in the same order).

Every event is one JSON `Message` envelope: `id`, `type`, `schema_version`, `source`, `position`, \
`occurred_at`, `subject_id` and the type's payload in `data`. The same body travels three ways:
- NATS JetStream: subject = the type{
    f" prefixed by `{stream.subject_prefix}`" if stream.subject_prefix else ""}, stream \
`{stream.name}` (subjects \
{", ".join(f"`{s}`" for s in stream.subjects)}), headers `Nats-Msg-Id` = `id` and \
`Edge-Position` = `position`. A copy re-sent by `edge-admin events replay` has the same body \
(its `id` included) but a `Nats-Msg-Id` of its own, derived from `id` and the replay run, and \
an `Edge-Replay` header naming the run: deduplicate on the body's `id`, not on `Nats-Msg-Id`.
- Webhooks: an HTTP POST of the body to each webhook subscribed to the type, signed (see the \
WebhookDelivery trait for the headers).
- `GET /api/v1/events/stream`: Server-Sent Events for bearer-key holders.

Versioning: each type's payload is versioned by `schema_version` (now {SCHEMA_VERSION}); its JSON \
Schema is published as `<type>.v<version>.json`. Adding an optional field keeps the version, so \
consumers must ignore fields they do not know; removing, renaming or retyping a field publishes a \
new version.

Delivery: the relay publishes committed events in store order and re-sends after a crash, so \
every path is at-least-once at the source. The stream stores each event exactly once: JetStream \
drops a re-sent `Nats-Msg-Id` within its duplicate window ({stream.duplicate_window / 3600:g} h). \
Webhooks are at-least-once (retried up to `WEBHOOK_MAX_ATTEMPTS`): deduplicate on `id` and \
order by `position`, which increases in commit order across all types, with gaps for internal \
events."""


TYPE_DOCS = {
    "edge.enrollment_key.verified": "An agent enrolled with a valid key; one use was consumed.",
    "edge.node.registered": "A node registered for the first time, or a deleted one came back.",
    "edge.node.reregistered": "A known node registered again (restart or re-enrollment).",
    "edge.node.version_changed": "A node reported a different agent version.",
    "edge.node.status_changed": "A node became healthy, unhealthy or unreachable.",
    "edge.node.cluster_changed": "A node and its aliases moved to another cluster.",
    "edge.node.update_triggered": "A self-update was dispatched to a node.",
    "edge.command_execution.created": "A command targeted a node; its execution is pending.",
    "edge.command_execution.sent": "An execution was delivered to its agent.",
    "edge.command_execution.completed": "The agent reported the result (any exit code).",
    "edge.command_execution.cancelled": "Cancelled before it ran, or by the agent (exit 143).",
    "edge.command_execution.expired": "The command expired while the execution was unfinished.",
    "edge.command_execution.pruned": "A finished execution was deleted; data is its last state.",
    "edge.ssh_username.verified": "An agent had SSH credentials checked; only the outcome is sent.",
    "edge.self_update_request.completed": "A self-update request finished.",
    "edge.deployment.requested": "A deployment was asked for (POST /v2/deployments).",
    "edge.deployment.placed": "It was placed on a node near its users (Status.DEPLOYING).",
    "edge.deployment.ready": "Its container runs and its ports are published (Status.READY).",
    "edge.deployment.error": ("No room to place it, its container failed, or its node never"
                              " started it: start deadline passed, node unreachable or"
                              " deleted (Status.ERROR)."),
    "edge.deployment.stop_requested": "A stop (API, self-stop, bulk, max_duration) began.",
    "edge.deployment.terminated": "It ended; its container is gone (Status.TERMINATED).",
    "edge.deployment.archived": ("A terminal attempt of a resource was archived (POST"
                                 " /deployments/{id}/archive): hidden from Appaloft's lists;"
                                 " status is the one it had, and nothing it runs changes."),
    "edge.project.created": "A project was created (Appaloft's projects).",
    "edge.project.renamed": "A project's display name changed (its slug stays).",
    "edge.project.archived": "A project was archived: read-only until restored.",
    "edge.project.restored": "An archived project became active again.",
    "edge.project.deleted": "An archived project was deleted, its environments with it"
                            " (edge.environment.deleted for each).",
    "edge.environment.created": "An environment was created in a project.",
    "edge.environment.renamed": "An environment's name changed.",
    "edge.environment.locked": "An environment was locked: it refuses every change until"
                               " unlocked.",
    "edge.environment.unlocked": "A locked environment takes changes again.",
    "edge.environment.archived": "An environment was archived for good (still readable).",
    "edge.environment.deleted": "An environment was deleted with its project (no longer"
                                " readable).",
    "edge.environment.variable_set": "An environment variable was set (never its value).",
    "edge.environment.variable_unset": "An environment variable was removed.",
    "edge.resource.created": "A resource (an app) was created in an environment.",
    "edge.resource.source_configured": "A resource's source image changed.",
    "edge.resource.runtime_profile_configured": "A resource's command or arguments changed.",
    "edge.resource.network_profile_configured": "A resource's internal port or protocol"
                                                " changed.",
    "edge.resource.health_policy_configured": "A resource's health policy changed.",
    "edge.resource.health_policy_reset": "A resource's health policy went back to the"
                                         " default.",
    "edge.resource.rollback_policy_configured": "A resource's automatic rollback was turned"
                                                " on or off.",
    "edge.resource.automatic_rollback_decided": "An attempt of a resource asking for automatic"
    " rollback failed: rolled back to its last healthy attempt as a new one (deployment_id),"
    " or not, for the reason given (refused).",
    "edge.resource.variable_set": "A resource variable or secret was set (never its value).",
    "edge.resource.variable_unset": "A resource variable or secret was removed.",
    "edge.resource.archived": "A resource was archived: no configuration, no deployment.",
    "edge.resource.deleted": "A resource was deleted (no attempt was in progress).",
    "edge.resource.runtime_control_requested": "A runtime stop, start or restart of a"
    " resource's current deployment was decided: accepted, or blocked with its reason.",
    "edge.resource.runtime_control_phase_completed": "The agent carried out a phase (stop or"
    " start) of a runtime control; completed when it was the last.",
    "edge.resource.runtime_control_failed": "A runtime control failed: its deployment ended"
    " while it ran (error_code runtime-ended), or no agent carried it out in time"
    " (runtime-control-timeout).",
}
ENVELOPE_DOCS = {
    "id": "Stable for one stored event forever: deduplicate on it. Equal to Nats-Msg-Id as"
    " the relay publishes it; a copy re-sent by a replay (Edge-Replay) has its own"
    " Nats-Msg-Id.",
    "type": "The catalog type, also the NATS subject.",
    "schema_version": "Version of this type's schema.",
    "source": "The publishing service.",
    "position": "Position in the event store; increases in commit order across all types.",
    "occurred_at": "When the change was recorded (RFC 3339, UTC).",
    "subject_id": "Id of the entity the event is about (node, key, execution, request...).",
    "data": "The type's payload.",
}
_ID: Any = object()  # sample marker: a fixed uuid5 per field name
# Payload fields: (sample value, wording). Every public field needs an entry.
FIELDS: dict[str, tuple[Any, str]] = {
    "enrollment_key_id": (_ID, "The enrollment key that was used."),
    "cluster_name": ("prod-eu", "The node's cluster when the event happened."),
    "node_id": (_ID, "The edge node."),
    "uses_remaining": (4, "Uses left after this one; null means unlimited."),
    "id_type": ("persistent", "persistent (machine-derived id, survives reinstalls) or random."),
    "version": ("1.4.2", "Agent version the node reported; null when unknown."),
    "previous_version": ("1.4.1", "Agent version before the change; null when unknown."),
    "self_update_enabled": (True, "Whether the node accepts self-updates."),
    "reenrolled": (False, "True when the node presented an enrollment key again."),
    "previous_status": ("healthy", "Status before the change."),
    "status": ("unreachable", "healthy, unhealthy or unreachable."),
    "reason": ("missed heartbeats", "Why (heartbeat, missed heartbeats, reregistered...)."),
    "previous_cluster_name": ("staging-eu", "The cluster the node left."),
    "self_update_request_id": (_ID, "The self-update request."),
    "execution_id": (_ID, "The command execution."),
    "command_id": (_ID, "The command the execution belongs to."),
    "exit_code": (None, "The process exit code once the agent reported one, else null."),
    "ssh_username_id": (_ID, "The SSH username record; null when the username is unknown."),
    "username": ("ops", "The SSH username that was checked."),
    "method": ("publickey", "publickey or password (SSH's method names)."),
    "outcome": ("accepted", "accepted, or why not: unknown_username, unknown_key,"
                " wrong_password, no_password, rate_limited."),
    "fingerprint": ("SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU",
                    "SHA256 fingerprint of the offered key; null for password logins."),
    "total": (12, "Nodes the request targeted."),
    "triggered": (11, "Nodes a self-update was dispatched to."),
    "failed": (1, "Nodes that could not be triggered."),
    "request_id": ("a69f8e3e0555", "The deployment's request id (GET /v1/status/{request_id})."),
    "app_name": ("my-game", "Application (on edge.deployment.requested; else null)."),
    "app_version": ("1.0.3", "Application version (on edge.deployment.requested; else null)."),
    "detail": (None, "Why it is in error (Couldn't Allocate Server, exit code...)."),
    "project_id": (_ID, "The project (on created events; else null)."),
    "environment_id": (_ID, "The environment (on created events; else null)."),
    "parent_environment_id": (None, "The environment it was cloned or promoted from (on"
                              " created; null for one made on its own, and on other events)."),
    "resource_id": (_ID, "The resource (an app)."),
    "name": ("Web Console", "The display name (on created and renamed; else null)."),
    "slug": ("web-console", "The slug derived from the name at create (on created; else"
             " null)."),
    "kind": ("production", "The environment's kind (on created; else null)."),
    "image": ("docker.io/library/busybox:1.36", "The source image (on source_configured)."),
    "internal_port": (8080, "The port the app listens on (on network_profile_configured)."),
    "protocol": ("http", "http, tcp or udp (on network_profile_configured)."),
    "key": ("DATABASE_URL", "The variable's key (on variable events; else null)."),
    "exposure": ("runtime", "runtime or build-time (on variable events; else null)."),
    "is_secret": (False, "Whether the variable is a secret (on variable_set; else null)."),
    "automatic_rollback": (True, "Whether a failed attempt is rolled back automatically (on"
                           " rollback_policy_configured; else null)."),
    "failed_deployment_id": (_ID, "The attempt that failed."),
    "candidate_deployment_id": (_ID, "The last healthy attempt, whose snapshot the rollback"
                                " runs."),
    "refused": (None, "Why no rollback was begun (a locked environment...); null when begun."),
    "runtime_control_attempt_id": (_ID, "The runtime-control attempt (runtime stop, start or"
                                   " restart of a resource)."),
    "operation": ("stop", "stop, start or restart (on runtime_control_requested)."),
    "deployment_id": (_ID, "The rollback attempt begun (on automatic_rollback_decided; null"
                      " when refused), or the deployment whose container a runtime control"
                      " acts on (on runtime_control_requested; null when blocked for want of"
                      " one)."),
    "blocked_reason": (None, "Why it was refused (resource-archived, deployment-in-progress,"
                       " runtime-control-in-progress, runtime-not-found); null: accepted."),
    "phase": ("stop", "The phase carried out (on runtime_control_phase_completed)."),
    "completed": (True, "Whether it was the last phase (on runtime_control_phase_completed)."),
    "runtime_state": ("stopped", "The container as decided after it: running, stopping,"
                      " stopped or starting."),
    "error_code": ("runtime-ended", "Why it failed (on runtime_control_failed)."),
}
FIELD_DOCS_BY_STRUCT = {
    "CommandExecutionChanged.cluster_name": "The target node's cluster, if it has one.",
    "CommandExecutionChanged.node_id": "The target node; null once the node was deleted.",
    "CommandExecutionChanged.status": "pending, sent, completed, cancelled or expired.",
    "DeploymentChanged.status": "Edgegap Status.*: SEEKING, DEPLOYING, READY, ERROR, TERMINATED"
                                " (for stop_requested: the status the stop found).",
    "DeploymentChanged.node_id": "The node it runs on (on placed; else null).",
    "ProjectChanged.project_id": "The project.",
    "EnvironmentChanged.environment_id": "The environment.",
    "ProjectChanged.reason": "Why it was archived, when given (on archived; else null).",
    "EnvironmentChanged.reason": "Why it was locked or archived, when given; else null.",
    "DeploymentChanged.reason": "Why it stopped (stop requested, self-stop, bulk stop,"
                                " max_duration reached).",
}
SAMPLES_BY_TYPE: dict[str, dict[str, Any]] = {
    "edge.command_execution.created": {"status": "pending"},
    "edge.command_execution.sent": {"status": "sent"},
    "edge.command_execution.completed": {"status": "completed", "exit_code": 0},
    "edge.command_execution.cancelled": {"status": "cancelled", "exit_code": 143},
    "edge.command_execution.expired": {"status": "expired"},
    "edge.command_execution.pruned": {"status": "completed", "exit_code": 0},
    "edge.deployment.requested": {"status": "Status.SEEKING"},
    "edge.deployment.placed": {"status": "Status.DEPLOYING"},
    "edge.deployment.ready": {"status": "Status.READY"},
    "edge.deployment.error": {"status": "Status.ERROR", "exit_code": 3,
                              "detail": "container exited with code 3"},
    "edge.deployment.stop_requested": {"status": "Status.READY", "reason": "self-stop"},
    "edge.deployment.terminated": {"status": "Status.TERMINATED", "exit_code": 143,
                                   "reason": "stop requested"},
    "edge.deployment.archived": {"status": "Status.TERMINATED"},
}
_STRING = {"type": "string"}
_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
NATS_HEADER_DOCS: dict[str, tuple[Schema, str]] = {
    "Nats-Msg-Id": ({**_STRING, "format": "uuid"}, "The message id; JetStream stores a re-sent"
                    " message once. The body's id as the relay publishes it; on a replayed"
                    " copy (Edge-Replay) an id of the copy's own, the same for one event"
                    " within one run."),
    "Edge-Position": (_DIGITS, "The message position, in decimal."),
    "Edge-Schema-Version": (_DIGITS, "The message schema_version, in decimal."),
    "Edge-Replay": ({**_STRING, "format": "uuid"}, "Only on a copy re-sent by `edge-admin events"
                    " replay`: the run's id. The body is the stored event's, unchanged."),
}
WEBHOOK_HEADER_DOCS = {
    "X-Edge-Signature": "t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<body>'>, keyed with the"
    " webhook's secret; reject a t outside your tolerance window against replays.",
    "webhook-id": "The delivery id (one per webhook and message), the same on every attempt.",
    "webhook-timestamp": "Unix seconds of this attempt; reject stale ones against replays.",
    "webhook-signature": "Standard Webhooks: v1, and the base64 HMAC-SHA256 of"
    " {webhook-id}.{webhook-timestamp}.{body} with the secret.",
}


def struct_name(kind: str) -> str:
    """edge.command_execution.created -> CommandExecutionCreated."""
    return "".join(p.title() for p in re.split(r"[._]", kind.removeprefix("edge.")))


def _field(qualified: str) -> tuple[Any, str]:
    name = qualified.rsplit(".", 1)[-1]
    if name not in FIELDS:
        raise LookupError(f"{qualified}: add a sample and wording to FIELDS in {__name__}")
    return FIELDS[name]


def schema_id(kind: str) -> str:
    return f"{SCHEMA_BASE}{kind}.v{SCHEMA_VERSION}.json"


def envelope(kind: str) -> type[msgspec.Struct]:
    """`Message` with type, version and payload pinned, so msgspec can describe one event type."""
    pinned: dict[str, Any] = {"type": Literal[kind], "schema_version": Literal[SCHEMA_VERSION],
                              "data": PAYLOADS[kind]}
    fields = []
    for field in msgspec.structs.fields(Message):
        tz = True if field.type is datetime else None  # the envelope only holds UTC times
        meta = msgspec.Meta(description=ENVELOPE_DOCS[field.name], tz=tz)
        fields.append((field.name, Annotated[pinned.get(field.name, field.type), meta]))
    return msgspec.defstruct(f"{struct_name(kind)}Message", fields, kw_only=True,
                             namespace={"__doc__": f"{kind}: {TYPE_DOCS[kind]}"})


def message_schemas(kinds: tuple[str, ...], ref_template: str) -> Schema:
    """msgspec's schemas of the envelopes and payloads, with the field wording added."""
    _, schemas = msgspec.json.schema_components(
        [envelope(k) for k in kinds], ref_template=ref_template)
    for payload in {PAYLOADS[k] for k in kinds}:
        for name, prop in schemas[payload.__name__]["properties"].items():
            qualified = f"{payload.__name__}.{name}"
            prop["description"] = FIELD_DOCS_BY_STRUCT.get(qualified) or _field(qualified)[1]
    return schemas


def sample_message(kind: str, position: int = SAMPLE_POSITION) -> Message:
    """A realistic message of this type; the first id-valued payload field is its subject."""
    payload, overrides = PAYLOADS[kind], SAMPLES_BY_TYPE.get(kind, {})
    data = {}
    for name in payload.__struct_fields__:
        value = overrides.get(name, _field(f"{payload.__name__}.{name}")[0])
        data[name] = str(uuid5(NAMESPACE_URL, SCHEMA_BASE + name)) if value is _ID else value
    struct = msgspec.convert(data, payload)
    subject = next(v for v in msgspec.structs.astuple(struct) if isinstance(v, UUID))
    return Message(id=message_id(subject, position), type=kind, schema_version=SCHEMA_VERSION,
                   source=SOURCE, position=position, occurred_at=SAMPLE_AT,
                   subject_id=subject, data=struct)


def _headers(title: str, docs: dict[str, tuple[Schema, str]], names: list[str],
             required: list[str] | None = None) -> Schema:
    properties = {n: {**docs[n][0], "description": docs[n][1]} for n in names}
    return {"title": title, "type": "object", "properties": properties,
            "required": names if required is None else required}


def _message(kind: str, sample: Message) -> Schema:
    name = struct_name(kind)
    return {
        "name": name, "title": kind, "summary": TYPE_DOCS[kind],
        "contentType": "application/json",
        "headers": {"$ref": COMPONENTS.format(name="NatsHeaders")},
        "payload": {"$ref": COMPONENTS.format(name=f"{name}Message")},
        "traits": [{"$ref": "#/components/messageTraits/WebhookDelivery"}],
        "examples": [{"name": f"{name}Example", "summary": f"Sample {kind} message",
                      "headers": headers_for(sample),
                      "payload": msgspec.json.decode(msgspec.json.encode(sample))}],
    }


def build_asyncapi(stream: StreamSettings = StreamSettings()) -> Schema:  # noqa: B008 - frozen
    """The whole document as plain JSON values, channels in catalog order (a fresh copy), for
    the stream and subject prefix an admin publishes to (NATS_STREAM, NATS_SUBJECT_PREFIX): a
    consumer that follows the served document literally subscribes to what it publishes. The
    committed schemas/asyncapi.yaml is the default's."""
    schemas = message_schemas(EVENT_TYPES, COMPONENTS)
    samples = {k: sample_message(k, SAMPLE_POSITION + i) for i, k in enumerate(EVENT_TYPES)}
    # Every message has the relay's headers; a replayed copy has the replay's too.
    sample = samples[EVENT_TYPES[0]]
    relayed, replayed = list(headers_for(sample)), list(replay_headers(sample, sample.id))
    names = relayed + [n for n in replayed if n not in relayed]
    schemas["NatsHeaders"] = _headers("NatsHeaders", NATS_HEADER_DOCS, names, relayed)
    webhook_docs = {n: (_STRING, text) for n, text in WEBHOOK_HEADER_DOCS.items()}
    schemas["WebhookHeaders"] = _headers("WebhookHeaders", webhook_docs, list(webhook_docs))
    channels, operations, messages = {}, {}, {}
    for kind in EVENT_TYPES:
        name = struct_name(kind)
        messages[name] = _message(kind, samples[kind])
        channels[kind] = {"address": stream.subject_prefix + kind, "title": name,
                          "description": TYPE_DOCS[kind],
                          "messages": {name: {"$ref": f"#/components/messages/{name}"}}}
        operations[f"send{name}"] = {
            "action": "send", "title": f"Publish {kind}", "summary": TYPE_DOCS[kind],
            "channel": {"$ref": f"#/channels/{kind}"},
            "messages": [{"$ref": f"#/channels/{kind}/messages/{name}"}]}
    nats = {"host": "{host}:{port}", "protocol": "nats", "title": "NATS JetStream",
            "description": f"NATS_URL of the admin; JetStream stream {stream.name} (NATS_STREAM)."
            " Subjects are the types"
            + (f", prefixed by {stream.subject_prefix} (NATS_SUBJECT_PREFIX)."
               if stream.subject_prefix else ", prefixed by NATS_SUBJECT_PREFIX when it is set."),
            "variables": {"host": {"default": "localhost", "description": "NATS host"},
                          "port": {"default": "4222", "description": "NATS client port"}}}
    trait = {"description": "Webhook deliveries POST the same body with Content-Type"
             " application/json, these headers and the webhook's own headers.",
             "bindings": {"http": {"bindingVersion": "0.3.0",
                                   "headers": {"$ref": COMPONENTS.format(name="WebhookHeaders")}}}}
    document = {
        "asyncapi": "3.0.0",
        "info": {"title": "Edge Admin events", "version": f"{SCHEMA_VERSION}.0.0",
                 "description": description(stream)},
        "defaultContentType": "application/json",
        "servers": {"nats": nats},
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages,
                       "messageTraits": {"WebhookDelivery": trait}},
    }
    result: Schema = json.loads(json.dumps(document))  # no shared dicts between refs
    return result


def build_event_schemas() -> dict[str, Schema]:
    """One standalone draft 2020-12 schema of the whole message per type, keyed by type."""
    out = {}
    for kind in EVENT_TYPES:
        defs = message_schemas((kind,), "#/$defs/{name}")
        root = defs.pop(f"{struct_name(kind)}Message")
        out[kind] = {"$schema": JSON_SCHEMA, "$id": schema_id(kind), **root,
                     "title": f"{kind} v{SCHEMA_VERSION}", "$defs": defs}
    return out


# --- output --------------------------------------------------------------------------------
_PLAIN = re.compile(r"[A-Za-z_](?:[ -~]*[!-~])?")  # printable ASCII, no edge spaces
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


def _scalar(value: Any) -> str:
    if (isinstance(value, str) and _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS
            and ": " not in value and " #" not in value and not value.endswith(":")):
        return value
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted one


def _yaml(value: Any, pad: str, out: list[str]) -> None:
    items = sorted(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
    for key, item in items:
        lead = f"{pad}{_scalar(key)}:" if isinstance(value, dict) else f"{pad}-"
        if isinstance(item, dict | list) and item:
            nested: list[str] = []
            _yaml(item, pad + "  ", nested)
            if isinstance(value, list):  # "- " takes the place of the first line's indent
                out.append(f"{lead} {nested.pop(0)[len(pad) + 2:]}")
            else:
                out.append(lead + "\n")
            out.extend(nested)
        elif isinstance(item, str) and _literal_ok(item):
            out.append(f"{lead} |-\n")
            out.extend(f"{pad}  {line}\n" if line else "\n" for line in item.split("\n"))
        else:
            out.append(f"{lead} {json.dumps(item) if item in ({}, []) else _scalar(item)}\n")


def _literal_ok(text: str) -> bool:
    """Multi-line text reads best as a literal block, which keeps it exactly unless it has edge
    whitespace or odd characters."""
    lines = text.split("\n")
    return len(lines) > 1 and not text[0].isspace() and lines[-1] != "" and all(
        line == line.rstrip() and line.isprintable() for line in lines)


def to_yaml(value: dict[str, Any]) -> str:
    """Block-style YAML with sorted keys; strings that are not plainly safe are quoted."""
    out: list[str] = []
    _yaml(value, "", out)
    return "".join(out)


def rendered() -> dict[str, str]:
    """Every generated file's text by its path under the schemas directory."""
    files = {"asyncapi.yaml": to_yaml(build_asyncapi())}
    for kind, schema in build_event_schemas().items():
        text = json.dumps(schema, indent=2, sort_keys=True) + "\n"
        files[f"events/{kind}.v{SCHEMA_VERSION}.json"] = text
    return files


def main(argv: list[str] | None = None) -> None:
    """Writes the files under DIR (default: the served schemas directory)."""
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else SCHEMAS
    for name, text in rendered().items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text, encoding="utf-8")
        print(directory / name)


if __name__ == "__main__":
    main()
