"""Latest-value slots: hand the newest value to a consumer, never build a backlog."""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class AsyncLatestSlot(Generic[T]):
    """Holds at most one value for one asyncio consumer. `put` replaces a value nobody took
    yet and counts it as dropped, so a fast producer costs memory for one item only."""

    def __init__(self) -> None:
        self._value: T | None = None
        self._full = asyncio.Event()
        self.dropped = 0

    def put(self, value: T) -> None:
        if self._full.is_set():
            self.dropped += 1
        self._value = value
        self._full.set()

    async def take(self) -> T:
        await self._full.wait()
        self._full.clear()
        value, self._value = self._value, None
        return value  # type: ignore[return-value]  # set whenever the event is
