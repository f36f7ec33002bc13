"""The event loop's read pool (adapters/pg_async_reads.py): reads beyond its size wait their
turn, and one that waits longer than the pool's timeout fails as the pool itself would; a read
reuses a free connection, one broken or cancelled is replaced without losing its place, and
connections left unused go back to the pool, which closes them."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest

from adapters.pg_async_reads import AsyncReads
from projections.status import StoreUnavailableError
from tests.conftest import PG_BASE, pg_schema

T = TypeVar("T")


def _with_reads(check: Callable[[AsyncReads], Awaitable[T]], max_size: int,
                kwargs: dict[str, Any] | None = None, **options: float) -> T:
    """`check` on a read pool of its own, on a loop of its own, closed afterwards; skips
    where PostgreSQL is away."""
    with pg_schema():
        reads = AsyncReads(PG_BASE, kwargs or {}, max_size=max_size, **options)

        async def run() -> T:
            try:
                return await check(reads)
            finally:
                await reads.aclose()

        return asyncio.run(run())


async def _backend(reads: AsyncReads) -> object:
    """The server process behind the connection a read was given."""
    return (await reads.fetch(("SELECT pg_backend_pid()", [])))[0][0]


def test_reads_beyond_the_pool_size_take_turns() -> None:
    async def many(reads: AsyncReads) -> list[list[tuple[object, ...]]]:
        return list(await asyncio.gather(*(reads.fetch(("SELECT %s::int", [i]))
                                           for i in range(20))))

    assert _with_reads(many, max_size=2) == [[(i,)] for i in range(20)]


def test_a_read_that_waits_past_the_timeout_fails_as_store_unavailable() -> None:
    async def second_waits(reads: AsyncReads) -> None:
        await reads.fetch(("SELECT 1", []))  # the pool is open before the race
        slow = asyncio.create_task(reads.fetch(("SELECT pg_sleep(1.5)", [])))
        await asyncio.sleep(0.05)
        with pytest.raises(StoreUnavailableError):
            await reads.fetch(("SELECT 1", []))
        await slow
        assert await reads.fetch(("SELECT 2", [])) == [(2,)]  # its turn came back

    _with_reads(second_waits, max_size=1, timeout=0.3)


def test_a_refused_read_leaves_its_connection_to_the_next() -> None:
    async def refused_then_read(reads: AsyncReads) -> None:
        first = await _backend(reads)
        with pytest.raises(psycopg.errors.DivisionByZero):
            await reads.fetch(("SELECT 1 / %s", [0]))
        assert await _backend(reads) == first  # the same connection, still usable

    _with_reads(refused_then_read, max_size=1)


def test_reads_and_writes_go_on_when_the_server_ended_every_free_connection() -> None:
    """As after a database restart: no read is refused for a connection lost while free."""
    name = f"reads-{uuid.uuid4().hex[:8]}"

    async def killed_then_read(reads: AsyncReads) -> None:
        before = {row[0] for row in await asyncio.gather(
            *(reads.fetch(("SELECT pg_backend_pid() FROM pg_sleep(0.1)", []))
              for _ in range(3)))}
        assert len(before) == 3
        with psycopg.connect(PG_BASE, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                          " WHERE application_name = %s", (name,))
        # A write (an untracked upsert's way: one transaction) goes on as well.
        await reads.write([("SELECT %s::int", [[1]]), ("SELECT %s::int", [[2], [3]])])
        for _ in range(4):
            assert await _backend(reads) not in before

    _with_reads(killed_then_read, max_size=3, kwargs={"application_name": name})


def test_a_read_cancelled_mid_query_gives_its_slot_back() -> None:
    async def cancelled_then_read(reads: AsyncReads) -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reads.fetch(("SELECT pg_sleep(3)", [])), 0.2)
        began = time.monotonic()
        assert await reads.fetch(("SELECT 7", [])) == [(7,)]
        assert time.monotonic() - began < 1.5  # not after the sleep, nor a timeout

    _with_reads(cancelled_then_read, max_size=1, timeout=2.0)


def test_connections_left_unused_go_back_and_the_pool_closes_them() -> None:
    name = f"reads-{uuid.uuid4().hex[:8]}"

    def open_connections() -> int:
        with psycopg.connect(PG_BASE, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity"
                               " WHERE application_name = %s", (name,)).fetchone()
        assert row is not None
        return int(row[0])

    async def burst_then_idle(reads: AsyncReads) -> tuple[int, int]:
        await asyncio.gather(*(reads.fetch(("SELECT pg_sleep(0.2)", [])) for _ in range(3)))
        during = await asyncio.to_thread(open_connections)
        deadline = time.monotonic() + 10
        after = during
        while after > 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            after = await asyncio.to_thread(open_connections)
        return during, after

    during, after = _with_reads(burst_then_idle, max_size=3, kwargs={"application_name": name},
                                return_after=0.1, max_idle=0.3)
    assert during == 3
    assert after == 1  # the pool's minimum
