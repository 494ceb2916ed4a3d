"""Waking asyncio tasks from the pipeline's threads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from appliance.pipeline.latest import LatestSlot

T = TypeVar("T")


class AsyncWaiters:
    """Wakes asyncio tasks (on any loop) from other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @contextmanager
    def waiter(self) -> Iterator[asyncio.Event]:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._waiters.discard(entry)

    def wake_all(self) -> None:
        """One call per event loop, however many waiters it has: each call costs the loop a
        wake-up through its self-pipe."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Event]] = {}
        with self._lock:
            for loop, event in self._waiters:
                by_loop.setdefault(loop, []).append(event)
        for loop, events in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_set_all, events)


def _set_all(events: list[asyncio.Event]) -> None:
    for event in events:
        event.set()


async def next_value(
    slot: LatestSlot[T],
    waiters: AsyncWaiters,
    after: int,
    timeout: float,
    closed: threading.Event,
) -> tuple[int, T] | None:
    """The slot's newest value newer than version `after`; None once closed or timed out."""
    deadline = time.monotonic() + timeout
    while not closed.is_set():
        with waiters.waiter() as changed:
            version, value = slot.peek()
            if value is not None and version > after:
                return version, value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            # a timer that sets the event, not wait_for: that wraps every wait of every
            # viewer for every frame in a Task of its own
            timer = asyncio.get_running_loop().call_later(remaining, changed.set)
            try:
                await changed.wait()
            finally:
                timer.cancel()
    return None
