"""Stored events decoded for the projector at a third of the library's cost.

eventsourcing's JSONTranscoder parses with the json module and an object hook per dict; the
projector decodes every event of the log (a replay: all of them), and that was a quarter of a
replay's CPU. This mapper parses the same bytes with msgspec (in C), then turns the transcoder's
`{"_type_": ..., "_data_": ...}` dicts into their objects bottom-up, as the hook does, with the
same registered transcodings. Anything it does not read exactly as the library would (NaN, a
number out of float range, a lone surrogate, another transcoder, a cipher or compressor) goes
to the library's own `to_domain_event`, so the events it returns are always the same.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from datetime import datetime
from typing import Any, cast
from uuid import UUID, SafeUUID

import msgspec
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic

_decode = msgspec.json.Decoder().decode


class FastMapper(Mapper[Any]):
    """`Mapper.to_domain_event` of the wrapped mapper, faster for the plain JSON transcoder."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        super().__init__(mapper.transcoder, mapper.compressor, mapper.cipher)
        self.wrapped = mapper
        transcoder = mapper.transcoder
        plain = (type(mapper) is Mapper and type(transcoder) is JSONTranscoder
                 and mapper.compressor is None and mapper.cipher is None)
        self.names: dict[str, Decode] | None = (
            {name: _decoder(t) for name, t in cast(JSONTranscoder, transcoder).names.items()}
            if plain else None)
        # (topic, originator id type) -> the event class and its id convertor; None: the
        # class has a version to upcast to (left to the library).
        self.kinds: dict[tuple[str, type], tuple[type[Any], Callable[[Any], Any]] | None] = {}

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        names = self.names
        if names is None:
            return self.wrapped.to_domain_event(stored_event)
        try:
            state = _decode(stored_event.state)
            if type(state) is not dict:
                raise TypeError(state)  # the library requires a dict too: let it say so
            _objects(state, names)
            if _object(state, names) is not state:
                raise TypeError(state)  # the whole state is one transcoded object
            kind = self._kind(stored_event)
        except Exception:  # noqa: BLE001 - the library decodes it, or raises its own error
            return self.wrapped.to_domain_event(stored_event)
        if kind is None or "class_version" in state:
            return self.wrapped.to_domain_event(stored_event)  # upcasting: the library's way
        cls, convert = kind
        state["originator_id"] = convert(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def _kind(self, stored_event: StoredEvent) -> tuple[type[Any], Callable[[Any], Any]] | None:
        key = (stored_event.topic, type(stored_event.originator_id))
        try:
            return self.kinds[key]
        except KeyError:
            pass
        cls = resolve_topic(stored_event.topic)
        kind = None if getattr(cls, "class_version", 1) != 1 else (
            cls, find_id_convertor(cast(Hashable, cls), cast(Hashable, key[1])))
        self.kinds[key] = kind
        return kind


Decode = Callable[[Any], Any]


def _decoder(transcoding: Transcoding) -> Decode:
    """The transcoding's decode; for the library's own UUID and datetime ones, the same
    computation without the asserts and wrappers (a stored event holds several of each)."""
    if type(transcoding) is UUIDAsHex:
        return _uuid
    if type(transcoding) is DatetimeAsISO:
        return datetime.fromisoformat
    return transcoding.decode


def _uuid(data: str) -> UUID:
    """UUID(data): for 32 letters and digits, UUID.__init__ computes exactly int(data, 16).
    Kept by its text for the next event naming it (a node's, its cluster's): a UUID is
    immutable, and making one cost 0.9 us against 0.04 to find it."""
    if type(data) is not str:
        return UUIDAsHex().decode(data)  # which refuses it, as the library would
    uuid = _uuids.get(data)
    if uuid is not None:
        return uuid
    if len(data) == 32 and data.isalnum():
        uuid = object.__new__(UUID)
        object.__setattr__(uuid, "int", int(data, 16))
        object.__setattr__(uuid, "is_safe", SafeUUID.unknown)
        if len(_uuids) >= UUIDS_KEPT:
            _uuids.clear()
        _uuids[data] = uuid
        return uuid
    return UUIDAsHex().decode(data)


def uuid_of(text: str) -> UUID:
    """UUID(text) for PostgreSQL's text of a uuid (8-4-4-4-12 hex digits), from the UUIDs kept
    for the events' own (an originator id is often named in an earlier event's state)."""
    return _uuid(text.replace("-", ""))


UUIDS_KEPT = 20_000  # ~4 MB at most; emptied when full (a replay moves on through the fleet)
_uuids: dict[str, UUID] = {}


def _objects(d: dict[str, Any], names: dict[str, Decode]) -> None:
    """Replaces, inside `d`, every transcoded dict (at any depth) by its object."""
    for key, value in d.items():
        t = type(value)
        if t is dict:
            _objects(value, names)
            d[key] = _object(value, names)
        elif t is list:
            d[key] = _items(value, names)


def _object(d: dict[str, Any], names: dict[str, Decode]) -> Any:
    if len(d) == 2 and "_type_" in d and "_data_" in d:
        return names[d["_type_"]](d["_data_"])  # KeyError: the library's fallback
    return d


def _items(items: list[Any], names: dict[str, Decode]) -> list[Any]:
    out = []
    for value in items:
        t = type(value)
        if t is dict:
            _objects(value, names)
            value = _object(value, names)
        elif t is list:
            value = _items(value, names)
        out.append(value)
    return out
