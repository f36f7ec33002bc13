"""The published message decodes back into the one catalog.Message struct, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import msgspec
import pytest

from domain.catalog import SCHEMA_VERSION, SOURCE, Message, decode_message, to_message
from domain.catalog_fleet import NodeStatusChanged
from domain.catalog_workloads import ResourceChanged


def status_changed() -> Message:
    node_id = uuid4()
    return Message(
        id=uuid4(), type="edge.node.status_changed", schema_version=SCHEMA_VERSION,
        source=SOURCE, position=7, occurred_at=datetime(2026, 1, 1, 12, tzinfo=UTC),
        subject_id=node_id,
        data=NodeStatusChanged(node_id=node_id, cluster_name="prod", previous_status="healthy",
                               status="unhealthy", reason="missed heartbeats"),
    )


def test_a_message_decodes_to_the_message_it_was_encoded_from() -> None:
    message = status_changed()
    raw = msgspec.json.encode(message)
    decoded = decode_message(raw)
    assert decoded == message
    assert type(decoded) is Message and type(decoded.data) is NodeStatusChanged
    assert msgspec.json.encode(decoded) == raw


def test_an_unknown_type_or_a_payload_of_another_shape_is_refused() -> None:
    raw = msgspec.json.encode(msgspec.structs.replace(status_changed(), type="edge.nope"))
    with pytest.raises(ValueError, match=r"unknown message type 'edge\.nope'"):
        decode_message(raw)
    envelope = msgspec.json.decode(msgspec.json.encode(status_changed()))
    del envelope["data"]["status"]
    with pytest.raises(msgspec.ValidationError):
        decode_message(msgspec.json.encode(envelope))
    with pytest.raises(msgspec.DecodeError):
        decode_message(b"{")


def test_variable_events_publish_their_key_never_their_value() -> None:
    from domain.environment import Environment
    from domain.resource import Resource

    at = datetime(2026, 1, 1, tzinfo=UTC)
    environment = Environment.create(uuid4(), uuid4(), "prod", "production", at)
    environment.set_variable("REGION", "runtime", "plain-value-eu", None, at)
    resource = Resource.create(uuid4(), uuid4(), environment.id, "web", at)
    resource.create_secret("TOKEN", "build-time", "k1:sealed-value", at)
    events = [*environment.collect_events(), *resource.collect_events()]
    messages = [to_message(e, i) for i, e in enumerate(events, start=1)]
    assert [m.type for m in messages if m is not None] == [
        "edge.environment.created", "edge.environment.variable_set", "edge.resource.created",
        "edge.resource.variable_set"]
    bodies = b"".join(msgspec.json.encode(m) for m in messages)
    assert b"plain-value-eu" not in bodies and b"sealed-value" not in bodies
    secret = messages[-1]
    assert secret is not None and isinstance(secret.data, ResourceChanged)
    assert (secret.data.key, secret.data.exposure, secret.data.is_secret) == (
        "TOKEN", "build-time", True)
    assert secret.data.environment_id is None and secret.subject_id == resource.id
