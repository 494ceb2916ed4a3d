"""Telemetry sources for tests: one that serves readings the test sets, one that always breaks."""

from __future__ import annotations

import threading

from appliance.telemetry import Reading


class ScriptedSource:
    """Serves whatever reading the test set last; thread-safe, the sampler reads it."""

    def __init__(self, reading: Reading, name: str = "scripted") -> None:
        self.name = name
        self.retry_after_s = 0.05
        self._reading = reading
        self._lock = threading.Lock()
        self.opened = self.closed = 0

    def set(self, reading: Reading) -> None:
        with self._lock:
            self._reading = reading

    def open(self) -> None:
        self.opened += 1

    def sample(self) -> Reading:
        with self._lock:
            return self._reading

    def close(self) -> None:
        self.closed += 1


class BrokenSource:
    """Opens fine and raises on every sample, like a driver that died after start-up."""

    name = "broken"

    def __init__(self, retry_after_s: float = 0.05) -> None:
        self.retry_after_s = retry_after_s
        self.opened = self.closed = 0

    def open(self) -> None:
        self.opened += 1

    def sample(self) -> Reading:
        raise RuntimeError("sensor bus error")

    def close(self) -> None:
        self.closed += 1
