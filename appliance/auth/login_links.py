"""One-time sign-in codes: a holder of a token asks for one (`appliance open` does, with the
local admin token) and a browser redeems it once at /login?code=… for a dashboard session of
that token. So a link can sign a window in without the token itself ever being in a URL.

Codes live in this process's memory only (a restart forgets them), each keeps the id of the
token it stands for, never the token, and is stored as its SHA-256: a memory dump or a log of
this table shows nothing that can be redeemed.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.errors import InvalidInputError

TTL_S = 60.0  # long enough to start a browser, short enough to be useless once leaked
KEEP_S = 600.0  # a used or expired code is remembered this long, to say which it was
MAX_CODES = 256  # a bound on memory, whatever a token holder asks for


class LoginLinkError(InvalidInputError):
    """A sign-in code that cannot be redeemed: unknown, used already, or expired."""

    code = "login_link_invalid"


@dataclass(frozen=True)
class LoginCode:
    code: str  # the only copy in clear: it goes into the link
    token_id: str
    expires_at: float  # unix seconds


@dataclass
class _Entry:
    token_id: str
    expires_at: float
    used: bool = False


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class LoginLinks:
    """Issue and redeem single-use codes; thread-safe (API handlers and dashboard pages)."""

    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[str, _Entry] = {}  # by the code's digest, oldest first
        self._lock = threading.Lock()

    def issue(self, token_id: str) -> LoginCode:
        code = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._forget_old(now)
            while len(self._entries) >= MAX_CODES:
                del self._entries[next(iter(self._entries))]
            self._entries[_digest(code)] = _Entry(token_id, now + self.ttl_s)
        return LoginCode(code, token_id, now + self.ttl_s)

    def redeem(self, code: str) -> str:
        """The token id `code` stands for; LoginLinkError when it was used or has expired.
        Either way the code is spent: a second try is refused."""
        now = self._clock()
        with self._lock:
            self._forget_old(now)
            entry = self._entries.get(_digest(code.strip()))
            if entry is None:
                raise LoginLinkError("this sign-in link is not valid (or is too old)")
            if entry.used:
                raise LoginLinkError("this sign-in link was used already: links work once")
            entry.used = True
            if now >= entry.expires_at:
                raise LoginLinkError(
                    f"this sign-in link has expired: links work for {self.ttl_s:g} s"
                )
            return entry.token_id

    def _forget_old(self, now: float) -> None:
        old = [key for key, entry in self._entries.items() if now >= entry.expires_at + KEEP_S]
        for key in old:
            del self._entries[key]
