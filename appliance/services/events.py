"""Events (camera state changes, errors) fanned out to WebSocket subscribers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

Event = dict[str, Any]


class EventBus:
    """`publish` may be called from any thread; each subscriber has a bounded queue and a
    subscriber that does not keep up loses its oldest events, never the publisher's time."""

    def __init__(self, history: int = 200, queue_size: int = 256) -> None:
        self._history: deque[Event] = deque(maxlen=history)
        self._queue_size = queue_size
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = set()
        self._lock = threading.Lock()

    def publish(self, kind: str, **data: Any) -> Event:
        event = {"type": kind, "at": round(time.time(), 3), **data}
        with self._lock:
            self._history.append(event)
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_offer, queue, event)
        return event

    def recent(self) -> list[Event]:
        with self._lock:
            return list(self._history)

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
