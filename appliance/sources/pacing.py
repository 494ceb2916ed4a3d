"""Real-time pacing for sources that could deliver faster than real time (files, demo)."""

from __future__ import annotations

import threading
import time


class Pacer:
    """Releases frames on a fixed monotonic schedule: no drift, and no burst after a stall."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._due: float | None = None

    def wait(self, stop: threading.Event) -> None:
        """Sleep until the next frame is due, or until `stop` is set."""
        now = time.monotonic()
        if self._due is None or now - self._due > self.period:
            self._due = now  # first frame, or more than a frame late: start a new schedule
        elif self._due > now:
            stop.wait(self._due - now)
        self._due += self.period

    def reset(self) -> None:
        self._due = None
