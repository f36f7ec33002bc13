"""Events already stored must rebuild the same aggregates after a class is redeclared (as a
dataclass-style aggregate, say): same topics, same attribute names, and the same state after
replay. tests/data/stored_events_947e314.json holds what the store wrote before such changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from adapters.event_decoding import FastMapper
from application.store import EdgeStore
from domain.deployment import Deployment, Status

AT = datetime(2026, 1, 1, tzinfo=UTC)
WRITTEN = json.loads(
    (Path(__file__).parents[2] / "data" / "stored_events_947e314.json").read_text())["aggregates"]


def _stored(originator_id: UUID, rows: list[list[Any]]) -> list[StoredEvent]:
    return [StoredEvent(originator_id=originator_id, originator_version=version, topic=topic,
                        state=state.encode()) for version, topic, state in rows]


# Aggregates declared by their fields keep their creation time under the created event's own
# name, `at`, no longer `created_at` (an in-memory attribute never stored in an event nor read
# outside the aggregate).
CREATION_TIME_RENAMED = {"App", "Environment", "Project", "Resource"}


def _attributes(aggregate: Any, names: dict[str, str]) -> dict[str, str]:
    renamed = {"created_at": "at"} if type(aggregate).__name__ in CREATION_TIME_RENAMED else {}
    return {name: repr(getattr(aggregate, renamed.get(name, name))) for name in names}


@pytest.mark.parametrize("name", sorted(WRITTEN))
def test_stored_events_rebuild_the_same_aggregate(name: str) -> None:
    written = WRITTEN[name]
    store = EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    aggregate_id = UUID(written["id"])
    store.recorder.insert_events(_stored(aggregate_id, written["events"]))
    loaded: Any = store.repository.get(aggregate_id)
    assert type(loaded).__name__ == name
    assert loaded.version == len(written["events"])
    assert _attributes(loaded, written["attributes"]) == written["attributes"]


@pytest.mark.parametrize("name", sorted(n for n in WRITTEN if "snapshots" in WRITTEN[n]))
def test_a_stored_snapshot_rebuilds_the_same_aggregate(name: str) -> None:
    """An aggregate restored from an older snapshot has the state that snapshot recorded (an
    attribute added since, such as an EnrollmentKey's `at`, is absent until it is recreated)."""
    written = WRITTEN[name]
    store = EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    aggregate_id = UUID(written["id"])
    assert store.snapshots is not None
    store.snapshots.recorder.insert_events(_stored(aggregate_id, written["snapshots"]))
    loaded: Any = store.repository.get(aggregate_id)  # from the snapshot alone: no events stored
    assert type(loaded).__name__ == name
    assert loaded.version == written["snapshots"][-1][0]
    assert _attributes(loaded, written["attributes"]) == written["attributes"]


@pytest.mark.parametrize(("detail", "previous", "reported"), [
    ("container exited with code 3", Status.DEPLOYING, True),
    ("health check failed: 503", Status.READY, True),
    ("Couldn't Allocate Server", Status.SEEKING, False),
    ("not started within 600 s on node 5f0c", Status.DEPLOYING, False),
    ("node 5f0c became unreachable before starting it", Status.DEPLOYING, False),
    ("node 5f0c was deleted before starting it", Status.DEPLOYING, False),
    ("node 5f0c was deleted", Status.READY, False),
])
def test_a_failure_stored_before_reported_was_kept_reads_back_by_its_words(
    detail: str, previous: Status, reported: bool,
) -> None:
    """Version 1 of Failed, as the store wrote it, upcast by the library's mapper and by ours
    (the projector's): the admin's own failures are known by the words it wrote for them."""
    store = EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    d = Deployment.request("a69f8e3e0555", {"app": "game", "version": "1"}, AT)
    d.place(uuid4(), {}, AT)
    d.fail(detail, None, AT)
    failed = d.collect_events()[-1]
    stored = store.mapper.to_stored_event(failed)
    state = json.loads(stored.state)
    assert (state.pop("class_version"), state.pop("reported")) == (2, True)
    state["previous"] = previous.value
    old = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                      json.dumps(state).encode())
    for mapper in (store.mapper, FastMapper(store.mapper)):
        event = mapper.to_domain_event(old)
        assert isinstance(event, Deployment.Failed)
        assert (event.detail, event.reported) == (detail, reported)
