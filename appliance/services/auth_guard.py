"""AuthGuard: what happens when authentication fails, wherever it fails.

guard.client_address(connection) -> str   the client (X-Forwarded-For from trusted proxies)
guard.check(key)                         TooManyFailuresError (429) while `key` is locked out
guard.failed(key, reason, token_id=, user=)  count it, audit it, remember it for the Health page
guard.recent() -> list[FailedSignIn]     the latest failures, newest first (never a secret)

A key is a tuple whose first item is the client address: `(address,)` for tokens, URL
signatures and sign-in codes; `(address, user)` for a password, so that a guesser elsewhere
never locks the real user out. Successes are never reported: a client that only ever sends
valid credentials is never throttled (and a valid token cannot buy more guesses for another).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from appliance.auth.audit import audit
from appliance.auth.client_address import TrustedProxies
from appliance.auth.throttle import Key, Throttle
from appliance.errors import TooManyFailuresError

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

Reason = Literal["bad_token", "bad_signature", "bad_code", "bad_password"]
REASONS: tuple[str, ...] = ("bad_token", "bad_signature", "bad_code", "bad_password", "locked_out")
RECENT = 50  # failures kept for the Health page


@dataclass(frozen=True)
class FailedSignIn:
    at: float  # unix time
    client: str
    reason: str
    token_id: str | None = None  # the id part of a well-formed token, never its secret
    user: str | None = None


def _ignore(*_: object) -> None:
    return None


class AuthGuard:
    def __init__(
        self,
        throttle: Throttle | None = None,
        proxies: TrustedProxies | None = None,
        *,
        on_failure: Callable[[str], None] = _ignore,  # reason (metrics)
        on_lockout: Callable[[], None] = _ignore,
        clock: Callable[[], float] = time.time,  # wall time for what is shown
    ) -> None:
        self.throttle = throttle if throttle is not None else Throttle()  # empty: falsy
        self.proxies = proxies if proxies is not None else TrustedProxies()
        self._on_failure, self._on_lockout, self._clock = on_failure, on_lockout, clock
        self._recent: deque[FailedSignIn] = deque(maxlen=RECENT)
        self._lock = threading.Lock()

    def client_address(self, connection: HTTPConnection) -> str:
        return self.proxies.of(connection)

    def check(self, key: Key) -> None:
        """Before any credential is looked at: refuse a locked-out key."""
        wait = self.throttle.retry_after(key)
        if wait <= 0:
            return
        self._on_failure("locked_out")
        seconds = math.ceil(wait)
        raise TooManyFailuresError(
            f"too many failed sign-ins from this address: try again in {seconds} s",
            retry_after=seconds,
        )

    def failed(
        self,
        key: Key,
        reason: Reason,
        *,
        token_id: str | None = None,
        user: str | None = None,
        path: str | None = None,
    ) -> None:
        """One failed authentication of `key` (its first item: the client address)."""
        client = str(key[0])
        entry = FailedSignIn(self._clock(), client, reason, token_id, user)
        with self._lock:
            self._recent.appendleft(entry)
        self._on_failure(reason)
        audit(
            "auth.failed",
            outcome="denied",
            client=client,
            reason=reason,
            token_id=token_id,
            user=user,
            path=path,
        )
        seconds = self.throttle.failed(key)
        if seconds:
            self._on_lockout()
            audit(
                "auth.lockout",
                outcome="locked",
                level="WARNING",
                client=client,
                user=user,
                seconds=f"{seconds:g}",
            )

    def recent(self) -> list[FailedSignIn]:
        with self._lock:
            return list(self._recent)
