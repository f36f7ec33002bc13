"""Read-model reads on the event loop: an async psycopg pool beside the store's threaded one.

A GET used to cross to a worker thread, take a connection from the store's pool (waking a
waiter when it went back) and cross back: under load those hand-offs cost as much CPU as the
read itself (bench/PROFILE.md, "Where a read's time goes"). Here the handler awaits the query
on the loop. Reads are autocommit on committed data: a write is answered only once its
read-model rows are committed, so its writer's next read sees them here as on the store's pool.

Connections are leased from psycopg's pool (which opens them, retries, and closes the broken
ones) and, between reads, kept here on a free list with a cursor each: taking one and giving it
back are a list pop and append. Through the pool's `connection()` each read paid the pool's
checkout and return bookkeeping and a new cursor, about 50 µs of a GET's 350 µs of CPU
(bench/PROFILE.md, "A read's connection off a free list"). A read or write that finds its
connection broken (the database restarted meanwhile) is sent again on another (`_on_a_lane`).
A connection left free for RETURN_AFTER seconds goes back to the pool, whose own idle rules
then apply, so a serve that was busy once does not keep its peak of connections. One that fails
with its connection no longer idle (broken, or cancelled mid-query) goes back to the pool at
once, which replaces it.

At most `max_size` connections are leased; reads beyond them wait their turn in order and fail
with StoreUnavailableError after `timeout`, as one waiting for a database that is away does.

The connections belong to the event loop that first reads through them; the app's lifespan
closes them (`aclose`), and the next loop that reads opens a new pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from psycopg import AsyncConnection, AsyncCursor, OperationalError
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from adapters.outage import Outage
from projections.status import StoreUnavailableError

Statement = tuple[str, list[Any]]
RETURN_AFTER = 30.0  # seconds a leased connection may stay unused before the pool has it back
MAX_IDLE = 60.0  # seconds the pool keeps a connection beyond its one unused before closing it
# A cursor keeps its last result until its next query: after a read this large it is replaced
# instead, so that a free connection does not hold a big page's memory.
KEEP_ROWS = 1000


class _Lane:
    """A leased connection and the cursor its reads reuse."""

    __slots__ = ("conn", "cursor", "since")

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self.conn = conn
        self.cursor: AsyncCursor[Any] = conn.cursor()
        self.since = 0.0  # when it was last given back (monotonic)

    def reusable(self) -> bool:
        return not self.conn.closed and (
            self.conn.info.transaction_status == TransactionStatus.IDLE)


class AsyncReads:
    """Rows as tuples, in the order the statement names its columns."""

    def __init__(  # noqa: PLR0913
        self, conninfo: str, kwargs: dict[str, Any], max_size: int, timeout: float = 5.0,
        return_after: float = RETURN_AFTER, max_idle: float = MAX_IDLE,
    ) -> None:
        """`timeout`: seconds to wait for a connection, as the store's pool (its
        POSTGRES_CONNECT_TIMEOUT): a database that is away fails a read in seconds.
        `return_after`, `max_idle`: see RETURN_AFTER, MAX_IDLE."""
        # UTC sessions: psycopg then returns datetimes in timezone.utc, as the views promise,
        # with no conversion per value.
        options = f"{kwargs.get('options', '')} -c TimeZone=UTC".strip()
        self._kwargs = {**kwargs, "options": options, "autocommit": True}
        self._kwargs.pop("row_factory", None)  # tuples: no dict per row
        self._conninfo, self._max, self._timeout = conninfo, max(1, max_size), timeout
        self._return_after, self._max_idle = return_after, max_idle
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None
        self._free: list[_Lane] = []  # the last given back on top: the oldest at [0]
        self._leased = 0  # lanes out of the pool: free or reading
        # Reads waiting for a lane, in order; a waiter is given a lane, or None when a slot
        # freed (a lane went back to the pool) and it should lease one itself.
        self._waiters: deque[asyncio.Future[_Lane | None]] = deque()
        self._trimming: asyncio.TimerHandle | None = None
        self._outage = Outage(timeout)

    async def fetch(self, statement: Statement) -> list[tuple[Any, ...]]:
        """The statement's rows."""
        rows: list[tuple[Any, ...]] = await self._on_a_lane(partial(_query, statement))
        return rows

    async def write(self, statements: list[tuple[str, list[list[Any]]]]) -> None:
        """Untracked changes (heartbeats' last_seen_at), in one transaction; each statement's
        rows as one executemany."""
        await self._on_a_lane(partial(_write, statements))

    async def _on_a_lane(self, work: Callable[[_Lane], Awaitable[Any]]) -> Any:
        """`work` done on a lane. Work that finds its connection broken (the server
        restarted, or ended the session) is done again on another: each free connection, and
        each the pool keeps, may be one of the broken, so up to that many times more, each
        failing at once. Nothing is refused for a connection lost while nobody used it (the
        server rolls back what a lost connection had not committed, and the untracked writes
        are upserts); with the database away, the last try waits for a new connection and
        fails with StoreUnavailableError (the pool's timeout, which a caller need not know);
        after that, work is refused at once while one finds out whether it is back (Outage)."""
        probe = self._outage.enter()
        try:
            tries = 2 * self._max + 1
            for tried in range(1, tries + 1):
                try:
                    lane = await self._take()
                except PoolTimeout as exc:
                    self._outage.timed_out(probe)
                    probe = False
                    raise self._outage.unavailable() from exc
                try:
                    done = await work(lane)
                except BaseException as exc:
                    self._after_failure(lane)
                    if not (isinstance(exc, OperationalError) and lane.conn.broken):
                        raise
                    if tried == tries:
                        raise StoreUnavailableError("the database closed every connection") \
                            from exc
                    continue
                self._give(lane)
                self._outage.answered(probe)
                probe = False
                return done
            raise AssertionError("the last try returns or raises")
        finally:
            self._outage.left(probe)

    async def aclose(self) -> None:
        pool, self._pool, self._loop, self._opening = self._pool, None, None, None
        free, self._free, self._leased = self._free, [], 0
        if self._trimming is not None:
            self._trimming.cancel()
            self._trimming = None
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(PoolTimeout("the read pool is closed"))
        self._waiters.clear()
        if pool is not None:
            for lane in free:
                await pool.putconn(lane.conn)
            await pool.close()

    # --- lanes --------------------------------------------------------------------------------
    async def _take(self) -> _Lane:
        pool = await self._open()
        if self._free:
            return self._free.pop()
        if self._leased >= self._max:  # every connection is reading: wait for one (in order)
            waiter: asyncio.Future[_Lane | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(self._timeout):
                    given = await waiter
            except BaseException as exc:
                self._abandon(waiter)
                if isinstance(exc, TimeoutError):
                    raise PoolTimeout(f"couldn't get a connection after {self._timeout:.2f} "
                                      "sec") from None
                raise
            if given is not None:
                return given
        else:
            self._leased += 1
        # A slot is ours (counted in _leased): lease a connection for it.
        try:
            return _Lane(await pool.getconn(timeout=self._timeout))
        except BaseException:
            self._slot_freed()
            raise

    def _give(self, lane: _Lane) -> None:
        """A read is done with `lane`: to the first waiter, else onto the free list."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(lane)
                return
        lane.since = time.monotonic()
        self._free.append(lane)
        if self._trimming is None and self._loop is not None:
            self._trimming = self._loop.call_later(self._return_after, self._trim)

    def _after_failure(self, lane: _Lane) -> None:
        """A read failed: an error the server answered leaves the connection idle and usable;
        a broken or cancelled one goes back to the pool, which closes or resets it."""
        if lane.reusable():
            self._give(lane)
        else:
            self._to_pool(lane)
            self._slot_freed()

    def _abandon(self, waiter: asyncio.Future[_Lane | None]) -> None:
        """A waiter gave up (timeout, cancelled): what it was given meanwhile goes on."""
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
        if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
            given = waiter.result()
            if given is not None:
                self._give(given)
            else:
                self._slot_freed()
        elif not waiter.done():
            waiter.cancel()

    def _slot_freed(self) -> None:
        """One leased connection fewer: a waiter may lease in its place."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to it, still counted
                return
        self._leased -= 1

    def _to_pool(self, lane: _Lane) -> None:
        pool = self._pool
        if pool is not None:
            task = asyncio.get_running_loop().create_task(pool.putconn(lane.conn))
            task.add_done_callback(_quiet)

    def _trim(self) -> None:
        """Gives the pool back the connections free for `return_after` seconds."""
        self._trimming = None
        stale = time.monotonic() - self._return_after
        while self._free and self._free[0].since <= stale:
            self._to_pool(self._free.pop(0))
            self._leased -= 1
        if self._free and self._loop is not None:
            self._trimming = self._loop.call_later(
                self._free[0].since + self._return_after - time.monotonic(), self._trim)

    async def _open(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._loop is loop:
            return self._pool
        if self._opening is None or self._loop is not loop:
            # A new loop: the old one's connections cannot be used (nor closed) from here.
            self._loop, self._opening, self._pool = loop, asyncio.Lock(), None
            self._free, self._leased, self._waiters = [], 0, deque()
            self._trimming = None
        async with self._opening:
            if self._pool is None:
                pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
                    self._conninfo, kwargs=self._kwargs, min_size=1, max_size=self._max,
                    open=False, name="read-models", timeout=self._timeout,
                    max_idle=self._max_idle, reconnect_timeout=self._timeout)
                await pool.open(wait=True, timeout=self._timeout)
                self._pool = pool
        return self._pool


def _quiet(task: asyncio.Task[None]) -> None:
    """A connection handed back to a pool closing meanwhile: nothing left to do with it."""
    if not task.cancelled():
        task.exception()


async def _query(statement: Statement, lane: _Lane) -> list[tuple[Any, ...]]:
    await lane.cursor.execute(statement[0], statement[1])
    rows = await lane.cursor.fetchall()
    if len(rows) > KEEP_ROWS:
        await lane.cursor.close()
        lane.cursor = lane.conn.cursor()
    return rows


async def _write(statements: list[tuple[str, list[list[Any]]]], lane: _Lane) -> None:
    if len(statements) == 1 and len(statements[0][1]) == 1:
        # One row of one statement (a heartbeat's): on this autocommit connection it is a
        # transaction by itself, one round trip instead of BEGIN and COMMIT too.
        sql, [row] = statements[0]
        await lane.cursor.execute(sql, row)
        return
    async with lane.conn.transaction():
        for sql, rows in statements:
            if len(rows) == 1:
                await lane.cursor.execute(sql, rows[0])
            else:
                await lane.cursor.executemany(sql, rows)
