"""Cutting an asyncio worker's idle wait short from other threads (write path, LISTEN)."""

from __future__ import annotations

import asyncio
import contextlib


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
