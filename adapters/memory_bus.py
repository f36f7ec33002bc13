"""The in-process bus: the embedded default when NATS_URL is empty."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from domain.catalog import Message

log = logging.getLogger(__name__)
Handler = Callable[[Sequence[Message]], Awaitable[None]]


class InProcessBus:
    """Hands each batch to every subscriber in order; publish fails if any subscriber fails.

    The relay records its position only after publish returns, so a subscriber that persists
    what it needs (the webhook fan-out writes delivery rows) loses nothing across restarts.
    """

    connected = True  # nothing to reach

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self.published = 0

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def start(self) -> None:
        return None

    async def reconnect(self) -> None:
        return None

    async def check(self) -> None:
        return None

    async def publish(self, messages: Sequence[Message]) -> None:
        for handler in self._handlers:
            await handler(messages)
        self.published += len(messages)

    async def close(self) -> None:
        return None
