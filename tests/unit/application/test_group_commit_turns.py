"""Group commit's turns: callers queued behind a leader are each woken once, when their batch is
done or when the lead is handed to them, including after a leader was interrupted, so nobody is
left waiting and each caller gets its own answer."""

from __future__ import annotations

import threading
import time
from typing import Any

from application.group_commit import GroupCommit, Request
from entrypoints.bootstrap import Services

WAIT = 10.0  # seconds a thread may take before the test calls it stranded


def _answer(value: int) -> Any:
    return lambda shared: (value, {}, False)


def _queue_behind(group: GroupCommit, count: int) -> tuple[list[threading.Thread],
                                                            dict[int, Any]]:
    """`count` callers queued behind the group's current leader (returns once they all wait)."""
    answers: dict[int, Any] = {}

    def call(i: int) -> None:
        request = group.submit(Request(_answer(i)))
        answers[i] = request.error or request.result

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + WAIT
    while len(group._queue) < count:  # the turns are what is tested
        assert time.monotonic() < deadline, "callers did not queue"
        time.sleep(0.005)
    return threads, answers


def test_callers_behind_a_slow_leader_lead_in_turn(memory_services: Services) -> None:
    group = memory_services.writes.group
    assert group is not None
    group.max_batch = 3  # 20 queued callers take several batches, so the lead changes hands
    gate, leading = threading.Event(), threading.Event()

    def slow(shared: Any) -> tuple[Any, dict[Any, Any], bool]:
        leading.set()
        assert gate.wait(WAIT)
        return "first", {}, False

    first = Request(slow)
    leader = threading.Thread(target=group.submit, args=(first,), daemon=True)
    leader.start()
    assert leading.wait(WAIT)
    threads, answers = _queue_behind(group, 20)
    gate.set()
    for thread in [leader, *threads]:
        thread.join(WAIT)
        assert not thread.is_alive(), "a caller was left waiting"
    assert first.result == "first"
    assert answers == {i: i for i in range(20)}


def test_an_interrupted_leader_hands_the_lead_on(memory_services: Services) -> None:
    group = memory_services.writes.group
    assert group is not None
    gate, leading = threading.Event(), threading.Event()

    def interrupted(shared: Any) -> Any:
        leading.set()
        assert gate.wait(WAIT)
        raise KeyboardInterrupt  # not an Exception: it goes past the decision's own handler

    first = Request(interrupted)
    raised: list[BaseException] = []

    def lead() -> None:
        try:
            group.submit(first)
        except KeyboardInterrupt as exc:
            raised.append(exc)

    leader = threading.Thread(target=lead, daemon=True)
    leader.start()
    assert leading.wait(WAIT)
    threads, answers = _queue_behind(group, 8)
    gate.set()
    for thread in [leader, *threads]:
        thread.join(WAIT)
        assert not thread.is_alive(), "a caller was left waiting"
    assert raised and isinstance(first.error, RuntimeError)  # its caller hears it
    assert answers == {i: i for i in range(8)}  # the queue went on under the next leader
    # And the group is free: a later caller leads at once.
    assert group.submit(Request(_answer(99))).result == 99
