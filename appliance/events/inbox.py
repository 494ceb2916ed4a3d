"""A worker's inbox: frames are refused when too many wait, commands never are."""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

F = TypeVar("F")
C = TypeVar("C")


class Inbox(Generic[F, C]):
    """Frames and commands in arrival order, so a command applies after the frames sent
    before it. `put_frame` never waits: with `max_frames` frames waiting it refuses the frame
    (counted in `dropped`), so a slow consumer costs the producer nothing but the lock."""

    def __init__(self, max_frames: int) -> None:
        if max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        self.max_frames = max_frames
        self.dropped = 0
        self._cond = threading.Condition()
        self._items: deque[tuple[bool, F | C]] = deque()
        self._frames = 0
        self._closed = False

    def put_frame(self, frame: F) -> bool:
        with self._cond:
            if self._closed or self._frames >= self.max_frames:
                self.dropped += not self._closed
                return False
            self._items.append((True, frame))
            self._frames += 1
            self._cond.notify()
            return True

    def put_command(self, command: C) -> bool:
        """Queue `command`; False once the inbox is closed."""
        with self._cond:
            if self._closed:
                return False
            self._items.append((False, command))
            self._cond.notify()
            return True

    def close(self, last: C) -> bool:
        """Queue `last` and refuse everything after it; False if already closed."""
        with self._cond:
            if self._closed:
                return False
            self._items.append((False, last))
            self._closed = True
            self._cond.notify()
            return True

    def get(self, timeout: float) -> tuple[bool, F | C] | None:
        """The oldest item as (is_frame, item), or None after `timeout` s without one."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items, timeout):
                return None
            is_frame, item = self._items.popleft()
            self._frames -= is_frame
            return is_frame, item

    def waiting_frames(self) -> int:
        return self._frames
