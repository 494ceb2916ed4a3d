"""Per-process request limits of the API: how many detect requests may be in flight, and
what one /v1/detect/ws client may send. Excess is refused at once (503 with Retry-After) or
dropped, never queued: a queue only turns overload into latency for everyone."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from appliance.errors import OverloadedError

RETRY_AFTER_S = 1.0


class ConcurrencyLimit:
    """At most `limit` holders at a time; `try_acquire` never waits."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held = 0
        self._lock = threading.Lock()  # acquired from the event loop only, but cheap and safe
        self.refused = 0

    @property
    def held(self) -> int:
        return self._held

    def try_acquire(self) -> bool:
        with self._lock:
            if self._held >= self.limit:
                self.refused += 1
                return False
            self._held += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._held -= 1


class RateLimit:
    """A token bucket: `rate` events a second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._tokens = self.burst
        self._last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class ApiLimits:
    """Built once per app from the settings (app.state.limits)."""

    max_concurrent_detects: int = 8
    max_ws_message_bytes: int = 8 * 2**20
    max_ws_fps: float = 30.0
    detects: ConcurrencyLimit = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "detects", ConcurrencyLimit(self.max_concurrent_detects))


def get_limits(connection: HTTPConnection) -> ApiLimits:
    limits = getattr(connection.app.state, "limits", None)
    if limits is None:  # an app assembled without limits (tests building routers by hand)
        limits = connection.app.state.limits = ApiLimits()
    return limits


LimitsDep = Annotated[ApiLimits, Depends(get_limits)]


async def detect_slot(limits: LimitsDep) -> AsyncIterator[None]:
    """Hold one of the concurrent detect places for the request, or refuse it right away
    (before its body is read: an overloaded server should not buffer 20 MB it will refuse)."""
    if not limits.detects.try_acquire():
        raise OverloadedError(
            f"{limits.max_concurrent_detects} detect requests are already in flight; "
            "retry shortly (APPLIANCE_MAX_CONCURRENT_DETECTS)",
            retry_after=RETRY_AFTER_S,
        )
    try:
        yield
    finally:
        limits.detects.release()


DetectSlot = Depends(detect_slot)
