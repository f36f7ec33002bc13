"""adapters.event_decoding reads every stored event as eventsourcing's own mapper does: the
same class and attributes, or the same error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import SafeUUID, uuid4

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent
from eventsourcing.utils import get_topic
from hypothesis import given
from hypothesis import strategies as st

from adapters import event_decoding
from adapters.event_decoding import FastMapper
from application.store import EdgeStore
from domain.node import IdType, Node


def library_mapper() -> Mapper[Any]:
    return EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper


def outcome(mapper: Mapper[Any], stored: StoredEvent) -> Any:
    try:
        event = mapper.to_domain_event(stored)
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return type(exc).__name__
    return type(event), event.__dict__


class Thing(Aggregate):
    class Happened(Aggregate.Event):
        pass


VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text() | st.uuids() | st.datetimes(timezones=st.just(UTC))
    | st.decimals(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.text(max_size=5), VALUES, max_size=5))
def test_any_state_reads_as_the_library_reads_it(state: dict[str, Any]) -> None:
    library = library_mapper()
    fast = FastMapper(library)
    data = library.transcoder.encode({"timestamp": datetime.now(UTC), **state})
    stored = StoredEvent(uuid4(), 1, get_topic(Thing.Happened), data)
    assert outcome(fast, stored) == outcome(library, stored)


@given(st.binary(max_size=40) | st.sampled_from([
    b'{"a": NaN}', b'{"a": 1e400}', b'{"a": "\\ud800"}', b'[1]', b'"x"',
    b'{"_type_": "uuid_hex", "_data_": "00000000000000000000000000000000"}',
    b'{"a": {"_type_": "nope", "_data_": 1}}', b'{"a": [{"_type_": "nope", "_data_": 1}]}',
    b'{"a": {"_type_": "uuid_hex", "_data_": "00000000000000000000000000000000", "b": 1}}',
    b'{"a": [[{"_type_": "decimal_str", "_data_": "1.5"}]]}', b'{"a": {"_type_": [], "_data_": 1}}',
    b'{"class_version": 1}', b'\xef\xbb\xbf{}',
]))
def test_bytes_the_library_refuses_are_refused_alike(data: bytes) -> None:
    library = library_mapper()
    stored = StoredEvent(uuid4(), 1, get_topic(Thing.Happened), data)
    assert outcome(FastMapper(library), stored) == outcome(library, stored)


def test_a_node_registration_reads_alike() -> None:
    library = library_mapper()
    node = Node.register(uuid4(), uuid4(), "main", IdType.RANDOM, "1.0.0", True, {},
                         ("token", "password"), uuid4(), datetime.now(UTC))
    for event in node.collect_events():
        stored = library.to_stored_event(event)
        assert outcome(FastMapper(library), stored) == outcome(library, stored)


def test_other_transcoders_are_left_to_the_library() -> None:
    class Other(JSONTranscoder):
        pass

    assert FastMapper(Mapper(Other())).names is None


def test_uuids_kept_for_the_next_event_stay_bounded_and_equal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(event_decoding, "UUIDS_KEPT", 10)
    monkeypatch.setattr(event_decoding, "_uuids", {})
    ids = [uuid4() for _ in range(25)]
    for uuid in ids * 2:
        decoded = event_decoding._uuid(uuid.hex)
        assert decoded == uuid and decoded.int == uuid.int and hash(decoded) == hash(uuid)
        assert decoded.is_safe is SafeUUID.unknown
        assert len(event_decoding._uuids) <= 10
    # What is not 32 letters and digits is the library's to read (or refuse).
    assert event_decoding._uuid(str(ids[0])) == ids[0]
    with pytest.raises(ValueError):
        event_decoding._uuid("z" * 32)
