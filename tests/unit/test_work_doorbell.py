"""The doorbell wakes exactly the long polls of the nodes it is rung for, from any thread, and
in other processes through the notices it broadcasts."""

from __future__ import annotations

import asyncio
import threading
from contextlib import ExitStack
from uuid import UUID, uuid4

from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.work_doorbell import ANY_NODE_AFTER, IDS_PER_NOTICE, WorkDoorbell, merged, notices


def test_a_ring_from_another_thread_wakes_only_that_nodes_poll() -> None:
    bell, mine, other = WorkDoorbell(), uuid4(), uuid4()

    async def scenario() -> tuple[bool, bool]:
        with bell.listen(mine) as woken, bell.listen(other) as untouched:
            threading.Thread(target=bell.ring, args=([mine],)).start()
            await asyncio.wait_for(woken.wait(), 5)
            await asyncio.sleep(0.05)
            return woken.is_set(), untouched.is_set()

    assert asyncio.run(scenario()) == (True, False)


def test_a_ring_between_arming_and_waiting_is_not_lost() -> None:
    bell, node = WorkDoorbell(), uuid4()

    async def scenario() -> bool:
        with bell.listen(node) as woken:
            bell.ring([node])  # work recorded while the poll was still reading the read model
            await asyncio.sleep(0)
            return woken.is_set()

    assert asyncio.run(scenario())


def test_listeners_are_forgotten_when_their_poll_ends() -> None:
    bell, node = WorkDoorbell(), uuid4()

    async def scenario() -> None:
        with bell.listen(node):
            pass

    asyncio.run(scenario())
    assert bell._waiters == {}
    bell.ring([node])  # nobody waits: a harmless no-op


def test_a_listener_hears_every_ring_until_its_poll_ends() -> None:
    bell, node = WorkDoorbell(), uuid4()

    async def scenario() -> list[bool]:
        heard = []
        with bell.listen(node) as woken:
            for _ in range(3):
                woken.clear()
                bell.ring([node])
                await asyncio.sleep(0)
                heard.append(woken.is_set())
        return heard

    assert asyncio.run(scenario()) == [True, True, True]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.uuids(), max_size=2_100, unique=True))
def test_what_one_process_rings_wakes_exactly_those_polls_in_another(nodes: list[UUID]) -> None:
    sent: list[str] = []
    here, there = WorkDoorbell(sent.append), WorkDoorbell()
    waiting = [*nodes[:50], uuid4()]  # polls there: some rung, one not

    async def scenario() -> set[UUID]:
        with ExitStack() as stack:
            flags = {n: stack.enter_context(there.listen(n)) for n in waiting}
            here.ring(nodes)
            for payload in sent:
                assert len(payload.encode()) < 8_000  # PostgreSQL's limit on a payload
                there.heard(1234, payload)
            await asyncio.sleep(0)
            return {n for n, flag in flags.items() if flag.is_set()}

    woken = asyncio.run(scenario())
    if len(nodes) > ANY_NODE_AFTER:  # one notice for every poll, not hundreds of ids
        assert sent == [f"{here.origin} *"] and woken == set(waiting)
    else:
        assert len(sent) == -(-len(nodes) // IDS_PER_NOTICE)
        assert woken == set(nodes) & set(waiting)


def test_a_process_ignores_its_own_notices_and_strangers_payloads() -> None:
    sent: list[str] = []
    bell, node = WorkDoorbell(sent.append), uuid4()

    async def scenario() -> list[bool]:
        heard = []
        with bell.listen(node) as woken:
            for payload in ([f"{bell.origin} {node}"], ["other not-an-id"], [""],
                            ["other *"]):
                woken.clear()
                bell.heard(1, payload[0])
                await asyncio.sleep(0)
                heard.append(woken.is_set())
        return heard

    # Its own ring woke its polls when it rang; a stranger's payload wakes nothing; a listener
    # that (re)connected (empty) or a ring for many nodes (*) wakes every poll.
    assert asyncio.run(scenario()) == [False, False, True, True]
    bell.ring([])
    assert sent == []  # nothing rung, nothing sent


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a1", "b2"]),
                          st.lists(st.uuids(), max_size=600, unique=True)), max_size=8))
@example([("a1", [uuid4() for _ in range(150)]), ("a1", [uuid4() for _ in range(150)])])
def test_merged_notices_wake_what_the_notices_one_by_one_wake(rings: list[tuple[str, list[UUID]]]
                                                              ) -> None:
    payloads = [p for origin, nodes in rings for p in notices(origin, nodes)]
    waiting = {n for _, nodes in rings for n in (*nodes[:3], *nodes[-3:])} | {uuid4()}

    def woken_by(sent: list[str]) -> set[UUID]:
        there = WorkDoorbell()

        async def scenario() -> set[UUID]:
            with ExitStack() as stack:
                flags = {n: stack.enter_context(there.listen(n)) for n in waiting}
                for payload in sent:
                    there.heard(1234, payload)
                await asyncio.sleep(0)
                return {n for n, flag in flags.items() if flag.is_set()}

        return asyncio.run(scenario())

    folded = merged(payloads)
    assert woken_by(folded) == woken_by(payloads)
    assert len(folded) <= len(payloads) and all(len(p.encode()) < 8_000 for p in folded)
    # One origin's rings of a few nodes each become one notice.
    if payloads and sum(len(nodes) for _, nodes in rings) <= IDS_PER_NOTICE:
        assert len(folded) == len({origin for origin, nodes in rings if nodes})
