"""Cutting an asyncio worker's idle wait short from other threads (write path, LISTEN)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class Wakeup:
    """An event a worker sleeps on between polls; `set` is safe from any thread, any time."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self) -> None:
        """Called by the worker's `run` on its own loop."""
        self._loop, self._event = asyncio.get_running_loop(), asyncio.Event()

    def unbind(self) -> None:
        """Called when `run` ends: later `set` calls must not reach a closed loop."""
        self._loop = self._event = None

    def set(self, *_: object) -> None:
        loop, event = self._loop, self._event
        if loop is not None and event is not None:
            # The loop may close between the check and the call (the worker just stopped).
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)

    def clear(self) -> None:
        if self._event is not None:
            self._event.clear()

    async def sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Returns after `seconds`, or as soon as woken or stopped."""
        assert self._event is not None, "bind() first"
        waiters = [asyncio.ensure_future(self._event.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """A sleep that ends early when the process is stopping."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


class Stopped(Exception):
    """The process began stopping while an awaited step was still under way."""


async def unless_stopped(step: Awaitable[T], stop: asyncio.Event) -> T:
    """`await step`, abandoned (cancelled) if `stop` is set first: the NATS client retries an
    unreachable server forever, and shutdown must not wait on it."""
    task = asyncio.ensure_future(step)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise Stopped
