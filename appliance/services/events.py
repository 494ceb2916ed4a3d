"""Events (camera state changes, errors) fanned out to WebSocket subscribers."""

from __future__ import annotations

import asyncio
import heapq
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

Event = dict[str, Any]


STORED_EVENTS = "event."  # event.new / .update / .end: kept apart in the history


class EventBus:
    """`publish` may be called from any thread; each subscriber has a bounded queue and a
    subscriber that does not keep up loses its oldest events, never the publisher's time.
    The history keeps the stored events' messages apart from the rest: a busy scene's
    event.update messages must not push the last camera state changes out of it."""

    def __init__(self, history: int = 200, queue_size: int = 256) -> None:
        self._history: deque[Event] = deque(maxlen=history)
        self._stored: deque[Event] = deque(maxlen=history)
        self._queue_size = queue_size
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = set()
        self._lock = threading.Lock()

    def publish(self, kind: str, **data: Any) -> Event:
        event = {"type": kind, "at": round(time.time(), 3), **data}
        with self._lock:
            (self._stored if kind.startswith(STORED_EVENTS) else self._history).append(event)
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_offer, queue, event)
        return event

    def recent(self) -> list[Event]:
        """The last messages of both kinds, oldest first."""
        with self._lock:
            return list(heapq.merge(self._history, self._stored, key=lambda e: e["at"]))

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[Event]]:
        entry = (asyncio.get_running_loop(), asyncio.Queue[Event](self._queue_size))
        with self._lock:
            self._subscribers.add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._subscribers.discard(entry)


def _offer(queue: asyncio.Queue[Event], event: Event) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(event)
