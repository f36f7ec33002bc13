"""SelfUpdateRequest: pending -> processing -> completed with a summary (spec 5.3, E46/E49)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.store import EdgeStore
from domain.catalog import to_message
from domain.self_update import RequestNotCompletedError, RequestStatus, SelfUpdateRequest
from domain.shared import StateConflictError

AT = datetime(2026, 1, 1, tzinfo=UTC)


def new_request() -> SelfUpdateRequest:
    return SelfUpdateRequest(id=uuid4(), targeting={"type": "all"}, at=AT)


def names(events: Sequence[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def replayed(events: list[Any]) -> Any:
    aggregate = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate


def test_created_pending_with_an_empty_summary() -> None:
    request = new_request()
    assert (request.status, request.node_ids, request.remaining()) == ("pending", [], [])
    assert (request.triggered, request.failed, request.deleted) == (0, 0, False)


def test_start_resolves_targets_once() -> None:
    request = new_request()
    first, later = [uuid4(), uuid4()], [uuid4()]
    request.start(first, AT)
    request.start(later, AT)  # already processing: the first resolution stands
    assert (request.status, request.node_ids, request.remaining()) == ("processing", first, first)
    assert names(request.collect_events()) == ["Created", "Started"]


def test_record_summarises_and_completes_exactly_once() -> None:
    request = new_request()
    a, b, c = uuid4(), uuid4(), uuid4()
    request.start([a, b, c], AT)
    request.record([a], [], AT)
    assert (request.status, request.remaining()) == ("processing", [b, c])
    request.record([c], [b], AT)
    assert request.status == "completed"
    request.record([a, b, c], [], AT)  # a resumed worker re-reporting: nothing changes
    events: list[Any] = list(request.collect_events())
    assert names(events) == ["Created", "Started", "Progressed", "Progressed", "Completed"]
    completed = events[-1]
    assert (completed.total, completed.triggered, completed.failed) == (3, 2, 1)
    message = to_message(completed, 7)
    assert message is not None and message.type == "edge.self_update_request.completed"
    data: Any = message.data
    assert (data.self_update_request_id, data.total, data.triggered, data.failed) == (
        request.id, 3, 2, 1)


def test_no_target_completes_at_once_with_zero_counts() -> None:
    request = new_request()
    request.start([], AT)
    request.record([], [], AT)
    assert request.status == "completed"
    completed: Any = request.collect_events()[-1]
    assert (completed.total, completed.triggered, completed.failed) == (0, 0, 0)


def test_nothing_completes_before_processing_starts() -> None:
    request = new_request()
    request.record([], [], AT)
    request.record([uuid4()], [uuid4()], AT)  # not targets of this request: not counted
    assert (request.status, request.triggered, request.failed) == ("pending", 0, 0)


def test_duplicates_and_overlaps_count_once() -> None:
    request = new_request()
    a, b = uuid4(), uuid4()
    request.start([a, b, a], AT)
    assert request.node_ids == [a, b]
    request.record([a, a], [a, b, b], AT)
    assert (request.status, request.triggered, request.failed) == ("completed", 1, 1)


@pytest.mark.parametrize("steps", [0, 1, 2])
def test_only_completed_requests_can_be_deleted(steps: int) -> None:
    request = new_request()
    node = uuid4()
    if steps >= 1:
        request.start([node], AT)
    if steps >= 2:
        request.record([], [], AT)
    with pytest.raises(RequestNotCompletedError) as refused:
        request.delete(AT)
    assert isinstance(refused.value, StateConflictError)
    assert request.status in refused.value.message
    request.start([node], AT)
    request.record([], [node], AT)
    request.delete(AT)
    assert request.deleted


def test_state_survives_the_store() -> None:
    store = EdgeStore(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    request = new_request()
    nodes = [uuid4() for _ in range(5)]
    request.start(nodes, AT)
    request.record(nodes[:2], nodes[2:3], AT)
    store.save(request)
    loaded: Any = store.repository.get(request.id)
    assert vars(loaded) == vars(request)
    assert loaded.remaining() == nodes[3:]


Outcome = tuple[int, bool]  # (index into the targets, triggered?)


@settings(deadline=None, max_examples=150)
@given(
    targets=st.lists(st.uuids(), unique=True, max_size=12),
    chunks=st.lists(st.lists(st.tuples(st.integers(0, 20), st.booleans()), max_size=8),
                    max_size=8),
)
def test_any_chunking_counts_every_target_once_and_completes_once(
    targets: list[UUID], chunks: list[list[Outcome]]
) -> None:
    request = new_request()
    request.start(targets, AT)
    first_outcome: dict[UUID, bool] = {}
    stray = uuid4()  # a node that is not a target never counts
    for chunk in [*chunks, [(i, True) for i in range(len(targets))]]:
        nodes = [(targets[i] if i < len(targets) else stray, ok) for i, ok in chunk]
        triggered = [n for n, ok in nodes if ok]
        failed = [n for n, ok in nodes if not ok]
        for node in dict.fromkeys([*triggered, *failed]):
            if node != stray and node not in first_outcome:
                first_outcome[node] = node in triggered
        request.record(triggered, failed, AT)
        done = set(first_outcome) == set(targets)
        assert (request.status == "completed") is done
        assert set(request.remaining()) == set(targets) - set(first_outcome)
    events: list[Any] = list(request.collect_events())
    assert names(events).count("Completed") == 1 and names(events)[-1] == "Completed"
    completed = events[-1]
    assert completed.total == len(targets) == completed.triggered + completed.failed
    assert completed.triggered == sum(first_outcome.values())
    assert (request.triggered, request.failed) == (completed.triggered, completed.failed)
    assert request.status == RequestStatus.COMPLETED.value
    assert vars(replayed(events)) == vars(request)
