"""Per-process request limits of the API: how many detect requests may be in flight, and
what one /v1/detect/ws client may send. Excess is refused at once (503 with Retry-After) or
dropped, never queued: a queue only turns overload into latency for everyone."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from appliance.api.errors import error_response
from appliance.api.uploads import limited_receive
from appliance.errors import OverloadedError, PayloadTooLargeError

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


async def get_limits(connection: HTTPConnection) -> ApiLimits:  # async: see api/deps.py
    limits = getattr(connection.app.state, "limits", None)
    if limits is None:  # an app assembled without limits (tests building routers by hand)
        limits = connection.app.state.limits = ApiLimits()
    return limits


LimitsDep = Annotated[ApiLimits, Depends(get_limits)]


@contextmanager
def detect_place(limits: ApiLimits) -> Iterator[None]:
    """Hold one of the concurrent detect places, or raise OverloadedError right away."""
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


async def detect_slot(limits: LimitsDep) -> AsyncIterator[None]:
    """Hold one of the concurrent detect places for the request, or refuse it right away
    (before its body is read: an overloaded server should not buffer 20 MB it will refuse)."""
    with detect_place(limits):
        yield


# scope="function": the place is given back before the response is sent, so a client that
# sends its next request the moment it has an answer never finds its own place still taken
DetectSlot = Depends(detect_slot, scope="function")


# Routes that stream their own bodies under their own limits (images, models, tensors).
_OWN_LIMITS = ("/v1/detect", "/v1/vision/", "/v2/")


class BodyLimitMiddleware:
    """Caps the body of every other /v1 request (JSON: cameras, activation, jobs), which
    FastAPI would otherwise read whole into memory, however large, before validating it.
    A declared length over the limit is refused before a byte is read; a chunked body once
    it passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int = 1 << 20) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _applies(self, scope: Scope) -> bool:
        if scope["type"] != "http":  # lifespan and WebSocket scopes have no body to cap
            return False
        path: str = scope["path"]
        if not path.startswith("/v1/"):
            return False
        if scope["method"] == "POST" and path.rstrip("/") == "/v1/models":  # model upload
            return False
        return not path.startswith(_OWN_LIMITS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._applies(scope):
            await self.app(scope, receive, send)
            return
        message = (
            f"request body exceeds the limit of {self.max_bytes} bytes (APPLIANCE_MAX_JSON_KB)"
        )
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = error_response(413, PayloadTooLargeError.code, message)
            await response(scope, receive, send)
            return
        # an HTTPException: FastAPI turns other errors raised while reading a body into a 400
        limited = limited_receive(receive, self.max_bytes, lambda: HTTPException(413, message))
        await self.app(scope, limited, send)
