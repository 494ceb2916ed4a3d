"""How the MQTT publisher keeps its failures to itself: callers never see an exception,
and a connection failure is told in a few words."""

from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

from loguru import logger

F = TypeVar("F", bound=Callable[..., Any])


def never_raises(fn: F) -> F:
    """Callers are pipeline and API threads, callbacks run on paho's thread: a bug here is
    logged, never raised into either."""

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception:
            logger.exception("MQTT: {} failed", fn.__name__)
            return None

    return guarded  # type: ignore[return-value]


def connect_failure(exc: BaseException | None) -> str | None:
    """A connection failure in a few words (socket and TLS errors carry no credentials)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "unknown host"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    return None


__all__ = ["connect_failure", "never_raises"]
