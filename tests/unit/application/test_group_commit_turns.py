"""Group commit's turns: callers queued behind a leader are each woken once, when their batch is
done or when the lead is handed to them, including after a leader was interrupted, so nobody is
left waiting and each caller gets its own answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from application.group_commit import Decided, GroupCommit, Request
from entrypoints.bootstrap import Services

WAIT = 10.0  # seconds a thread may take before the test calls it stranded


def _answer(value: int) -> Any:
    return lambda shared: Decided(value, {}, False)


def _behind_a_leader(group: GroupCommit, last: Callable[[], Any], count: int
                     ) -> tuple[Request, list[BaseException], dict[int, Any]]:
    """A leader whose decision waits until `count` callers queue behind it, then ends with
    `last()`; returns its request, what its caller raised, and each queued caller's answer."""
    gate, leading = threading.Event(), threading.Event()

    def decide(shared: Any) -> Any:
        leading.set()
        assert gate.wait(WAIT)
        return Decided(last(), {}, False)

    first, raised, answers = Request(decide), [], {}

    def lead() -> None:
        try:
            group.submit(first)
        except BaseException as exc:  # noqa: BLE001 - what the leader's caller hears
            raised.append(exc)

    def call(i: int) -> None:
        request = group.submit(Request(_answer(i)))
        answers[i] = request.error or request.result

    leader = threading.Thread(target=lead, daemon=True)
    leader.start()
    assert leading.wait(WAIT)
    callers = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(count)]
    for thread in callers:
        thread.start()
    deadline = time.monotonic() + WAIT
    while len(group._queue) < count:  # the turns are what is tested
        assert time.monotonic() < deadline, "callers did not queue"
        time.sleep(0.005)
    gate.set()
    for thread in [leader, *callers]:
        thread.join(WAIT)
        assert not thread.is_alive(), "a caller was left waiting"
    return first, raised, answers


def test_callers_behind_a_slow_leader_lead_in_turn(memory_services: Services) -> None:
    group = memory_services.writes.group
    assert group is not None
    group.max_batch = 3  # 20 queued callers take several batches, so the lead changes hands
    first, raised, answers = _behind_a_leader(group, lambda: "first", 20)
    assert first.result == "first" and not raised
    assert answers == {i: i for i in range(20)}


def test_an_interrupted_leader_hands_the_lead_on(memory_services: Services) -> None:
    group = memory_services.writes.group
    assert group is not None

    def interrupted() -> Any:
        raise KeyboardInterrupt  # not an Exception: it goes past the decision's own handler

    first, raised, answers = _behind_a_leader(group, interrupted, 8)
    assert [type(e) for e in raised] == [KeyboardInterrupt]
    assert isinstance(first.error, RuntimeError)  # its caller is told the write was cut short
    assert answers == {i: i for i in range(8)}  # the queue went on under the next leader
    assert group.submit(Request(_answer(99))).result == 99  # and a later caller leads at once
