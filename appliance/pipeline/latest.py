"""Latest-value slots: hand the newest value to a consumer, never build a backlog."""

from __future__ import annotations

import asyncio
import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds the newest value for any number of threads. Each value gets a version number, so
    a consumer asks for "newer than what I had" and skips whatever it missed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: T | None = None
        self._version = 0
        self._taken = 0

    def put(self, value: T) -> int:
        with self._cond:
            self._value = value
            self._version += 1
            self._cond.notify_all()
            return self._version

    def peek(self) -> tuple[int, T | None]:
        with self._cond:
            return self._version, self._value

    def mark_taken(self, version: int) -> None:
        """A consumer has the value of `version` (lets a lossless producer go on)."""
        with self._cond:
            self._taken = max(self._taken, version)
            self._cond.notify_all()

    def wait_taken(self, version: int, timeout: float) -> bool:
        """Block until a consumer took `version`: backpressure for sources that must not
        drop frames (files read as fast as possible)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._taken >= version, timeout)


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
