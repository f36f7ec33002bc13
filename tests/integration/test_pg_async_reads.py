"""The event loop's read pool (adapters/pg_async_reads.py): reads beyond its size wait their
turn, and one that waits longer than the pool's timeout fails as the pool itself would; a read
reuses a free connection, one broken or cancelled is replaced without losing its place, and
connections left unused go back to the pool, which closes them."""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from adapters.pg_async_reads import AsyncReads
from tests.conftest import PG_BASE, pg_schema


def test_reads_beyond_the_pool_size_take_turns() -> None:
    with pg_schema():  # skips where PostgreSQL is away
        reads = AsyncReads(PG_BASE, {}, max_size=2)

        async def many() -> list[list[tuple[object, ...]]]:
            try:
                return list(await asyncio.gather(*(reads.fetch(("SELECT %s::int", [i]))
                                                   for i in range(20))))
            finally:
                await reads.aclose()

        assert asyncio.run(many()) == [[(i,)] for i in range(20)]


def test_a_read_that_waits_past_the_timeout_fails_with_pool_timeout() -> None:
    with pg_schema():
        reads = AsyncReads(PG_BASE, {}, max_size=1, timeout=0.3)

        async def second_waits() -> None:
            try:
                await reads.fetch(("SELECT 1", []))  # the pool is open before the race
                slow = asyncio.create_task(reads.fetch(("SELECT pg_sleep(1.5)", [])))
                await asyncio.sleep(0.05)
                with pytest.raises(PoolTimeout):
                    await reads.fetch(("SELECT 1", []))
                await slow
                assert await reads.fetch(("SELECT 2", [])) == [(2,)]  # its turn came back
            finally:
                await reads.aclose()

        asyncio.run(second_waits())


async def _backend(reads: AsyncReads) -> object:
    """The server process behind the connection a read was given."""
    return (await reads.fetch(("SELECT pg_backend_pid()", [])))[0][0]


def test_a_refused_read_leaves_its_connection_to_the_next() -> None:
    with pg_schema():
        reads = AsyncReads(PG_BASE, {}, max_size=1)

        async def refused_then_read() -> None:
            try:
                first = await _backend(reads)
                with pytest.raises(psycopg.errors.DivisionByZero):
                    await reads.fetch(("SELECT 1 / %s", [0]))
                assert await _backend(reads) == first  # the same connection, still usable
            finally:
                await reads.aclose()

        asyncio.run(refused_then_read())


def test_reads_and_writes_go_on_when_the_server_ended_every_free_connection() -> None:
    """As after a database restart: no read is refused for a connection lost while free."""
    with pg_schema():
        name = f"reads-{uuid.uuid4().hex[:8]}"
        reads = AsyncReads(PG_BASE, {"application_name": name}, max_size=3)

        async def killed_then_read() -> None:
            try:
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
            finally:
                await reads.aclose()

        asyncio.run(killed_then_read())


def test_a_read_cancelled_mid_query_gives_its_slot_back() -> None:
    with pg_schema():
        reads = AsyncReads(PG_BASE, {}, max_size=1, timeout=2.0)

        async def cancelled_then_read() -> None:
            try:
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(reads.fetch(("SELECT pg_sleep(3)", [])), 0.2)
                began = time.monotonic()
                assert await reads.fetch(("SELECT 7", [])) == [(7,)]
                assert time.monotonic() - began < 1.5  # not after the sleep, nor a timeout
            finally:
                await reads.aclose()

        asyncio.run(cancelled_then_read())


def test_connections_left_unused_go_back_and_the_pool_closes_them() -> None:
    with pg_schema():
        name = f"reads-{uuid.uuid4().hex[:8]}"
        reads = AsyncReads(PG_BASE, {"application_name": name}, max_size=3,
                           return_after=0.1, max_idle=0.3)

        def open_connections() -> int:
            with psycopg.connect(PG_BASE, autocommit=True) as conn:
                row = conn.execute("SELECT count(*) FROM pg_stat_activity"
                                   " WHERE application_name = %s", (name,)).fetchone()
            assert row is not None
            return int(row[0])

        async def burst_then_idle() -> tuple[int, int]:
            try:
                await asyncio.gather(*(reads.fetch(("SELECT pg_sleep(0.2)", []))
                                       for _ in range(3)))
                during = await asyncio.to_thread(open_connections)
                deadline = time.monotonic() + 10
                after = during
                while after > 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    after = await asyncio.to_thread(open_connections)
                return during, after
            finally:
                await reads.aclose()

        during, after = asyncio.run(burst_then_idle())
        assert during == 3
        assert after == 1  # the pool's minimum
