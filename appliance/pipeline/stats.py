"""Small thread-safe rolling measurements: rates and latency percentiles."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np


class RateMeter:
    """Events per second over the last `window_s` seconds."""

    def __init__(self, window_s: float = 5.0) -> None:
        self._window = window_s
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._times.append(now)
            self._trim(now)

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = self._times[-1] - self._times[0]
            return round((len(self._times) - 1) / span, 2) if span > 0 else 0.0

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self._window:
            self._times.popleft()


class StageLatencies:
    """The last `size` samples of each named stage, summarised as p50/p95 in ms."""

    def __init__(self, size: int = 300) -> None:
        self._size = size
        self._samples: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def add(self, stages: dict[str, float]) -> None:
        with self._lock:
            for name, ms in stages.items():
                self._samples.setdefault(name, deque(maxlen=self._size)).append(ms)

    def summary(self) -> dict[str, dict[str, float]]:
        with self._lock:
            copied = {name: list(values) for name, values in self._samples.items() if values}
        return {
            name: {
                "p50": round(float(np.percentile(values, 50)), 2),
                "p95": round(float(np.percentile(values, 95)), 2),
            }
            for name, values in copied.items()
        }
