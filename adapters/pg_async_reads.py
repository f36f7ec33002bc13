"""Read-model reads on the event loop: an async psycopg pool beside the store's threaded one.

A GET used to cross to a worker thread, take a connection from the store's pool (waking a
waiter when it went back) and cross back: under load those hand-offs cost as much CPU as the
read itself (bench/PROFILE.md, "Where a read's time goes"). Here the handler awaits the query
on the loop. The pool keeps one connection while idle and grows to DATABASE_POOL_SIZE under
load, so an idle serve holds one connection more than before. Reads are autocommit on
committed data: a write is answered only once its read-model rows are committed, so its
writer's next read sees them on this pool as on the store's.

The pool belongs to the event loop that first reads through it; the app's lifespan closes it
(`aclose`), and the next loop that reads opens a new one.

Reads beyond the pool's size queue on a semaphore of that size, not in the pool: the pool's
queue hands each waiter its connection through a condition and `asyncio.wait_for` (a task per
wait), which cost 4-5% of a GET's CPU at 64 clients; the semaphore one future. A queued read
still fails with the pool's PoolTimeout after `timeout` (then it may wait that long again in
the pool, if the pool has lost its connections).
"""

from __future__ import annotations

import asyncio
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool, PoolTimeout

Statement = tuple[str, list[Any]]


class AsyncReads:
    """Rows as tuples, in the order the statement names its columns."""

    def __init__(self, conninfo: str, kwargs: dict[str, Any], max_size: int,
                 timeout: float = 5.0) -> None:
        """`timeout`: seconds to wait for a connection, as the store's pool (its
        POSTGRES_CONNECT_TIMEOUT): a database that is away fails a read in seconds."""
        # UTC sessions: psycopg then returns datetimes in timezone.utc, as the views promise,
        # with no conversion per value.
        options = f"{kwargs.get('options', '')} -c TimeZone=UTC".strip()
        self._kwargs = {**kwargs, "options": options, "autocommit": True}
        self._kwargs.pop("row_factory", None)  # tuples: no dict per row
        self._conninfo, self._max, self._timeout = conninfo, max(1, max_size), timeout
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None
        self._slots = asyncio.Semaphore(self._max)

    async def _open(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return self._pool
        if self._opening is None or self._loop is not loop:
            self._loop, self._opening, self._pool = loop, asyncio.Lock(), None
            self._slots = asyncio.Semaphore(self._max)
        async with self._opening:
            if self._pool is None:
                pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
                    self._conninfo, kwargs=self._kwargs, min_size=1, max_size=self._max,
                    open=False, name="read-models", timeout=self._timeout)
                await pool.open(wait=True, timeout=self._timeout)
                self._pool = pool
        return self._pool

    async def fetch(self, statement: Statement) -> list[tuple[Any, ...]]:
        pool = await self._open()
        slots = self._slots
        if slots.locked():  # every connection is taken: wait for one here (module docstring)
            try:
                async with asyncio.timeout(self._timeout):
                    await slots.acquire()
            except TimeoutError:
                raise PoolTimeout(f"couldn't get a connection after {self._timeout:.2f} sec"
                                  ) from None
        else:
            await slots.acquire()  # returns at once
        try:
            async with pool.connection() as conn:
                cursor = await conn.execute(statement[0], statement[1])
                return await cursor.fetchall()
        finally:
            slots.release()

    async def write(self, statements: list[tuple[str, list[list[Any]]]]) -> None:
        """Untracked changes (heartbeats' last_seen_at), in one transaction; each statement's
        rows as one executemany."""
        pool = await self._open()
        async with self._slots, pool.connection() as conn:
            if len(statements) == 1 and len(statements[0][1]) == 1:
                # One row of one statement (a heartbeat's): on this autocommit connection it
                # is a transaction by itself, one round trip instead of BEGIN and COMMIT too.
                sql, [row] = statements[0]
                await conn.execute(sql, row)
                return
            async with conn.transaction():
                cursor = conn.cursor()
                for sql, rows in statements:
                    if len(rows) == 1:
                        await cursor.execute(sql, rows[0])
                    else:
                        await cursor.executemany(sql, rows)

    async def aclose(self) -> None:
        pool, self._pool, self._loop, self._opening = self._pool, None, None, None
        if pool is not None:
            await pool.close()
