"""The doorbell wakes exactly the long polls of the nodes it is rung for, from any thread."""

from __future__ import annotations

import asyncio
import threading
from uuid import uuid4

from adapters.work_doorbell import WorkDoorbell


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
