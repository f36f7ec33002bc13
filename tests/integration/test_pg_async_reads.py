"""The event loop's read pool (adapters/pg_async_reads.py): reads beyond its size wait their
turn, and one that waits longer than the pool's timeout fails as the pool itself would."""

from __future__ import annotations

import asyncio

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
