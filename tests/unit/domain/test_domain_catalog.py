"""The published message decodes back into the one catalog.Message struct, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import msgspec
import pytest

from domain.catalog import SCHEMA_VERSION, SOURCE, Message, NodeStatusChanged, decode_message


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
