"""Dashboard sessions: a random id in an HttpOnly, SameSite=Strict cookie, and on the server
what it stands for (a user or a token), until when, and the user's epoch (auth/users.py)
when it was opened, so that a new password or role ends it.

Kept in this process's memory only (a restart signs everyone out), by the id's SHA-256: a
memory dump or a log of this table holds nothing a browser could send. A session lasts a
fixed time from sign-in (APPLIANCE_SESSION_TTL_S); signing out forgets it at once, so a
copied cookie is refused from then on.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

COOKIE = "appliance_session"
# The dashboard's own requests carry this header with the cookie. A form or an <img> on
# another site cannot send a custom header, so a cookie alone authenticates nothing (CSRF).
HEADER = "X-Appliance-Session"
TTL_S = 12 * 3600.0
MAX_SESSIONS = 1024  # the oldest goes first beyond this: a bound on memory


@dataclass(frozen=True)
class Session:
    subject: str  # a token's id, or "user:<name>"
    epochs: tuple[str, ...]  # the user's epoch when signed in (two while it changes its own)
    expires_at: float  # unix seconds


@dataclass(frozen=True)
class IssuedSession:
    id: str  # the only copy in clear: it goes into the cookie
    session: Session

    def cookie(self, secure: bool, now: float | None = None) -> dict[str, object]:
        """`Response.set_cookie` arguments for this session (Secure over HTTPS)."""
        left = self.session.expires_at - (time.time() if now is None else now)
        return {
            "key": COOKIE,
            "value": self.id,
            "max_age": max(0, math.ceil(left)),
            "path": "/",
            "httponly": True,
            "samesite": "strict",
            "secure": secure,
        }


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Open, look up and end sessions; thread-safe (API handlers and dashboard pages)."""

    def __init__(
        self,
        ttl_s: float = TTL_S,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl_s = ttl_s
        self._max = max_sessions
        self._clock = clock
        self._sessions: dict[str, Session] = {}  # by the id's digest, oldest first
        self._lock = threading.Lock()

    def open(self, subject: str, epoch: str = "") -> IssuedSession:
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(subject, (epoch,), now + self.ttl_s)
        with self._lock:
            self._forget_expired(now)
            while len(self._sessions) >= self._max:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[_digest(session_id)] = session
        return IssuedSession(session_id, session)

    def get(self, session_id: str) -> Session | None:
        """The live session with this id; None when unknown, ended or expired."""
        key = _digest(session_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and self._clock() >= session.expires_at:
                del self._sessions[key]
                return None
            return session

    def set_epochs(self, session_id: str, *epochs: str) -> None:
        """Keep a session going while (then after) its own user changes its password: it
        takes the new epoch beside the old one before the change is written, then alone."""
        key = _digest(session_id)
        with self._lock:
            if key in self._sessions:
                self._sessions[key] = replace(self._sessions[key], epochs=epochs)

    def end(self, session_id: str) -> bool:
        with self._lock:
            return self._sessions.pop(_digest(session_id), None) is not None

    def __len__(self) -> int:
        return len(self._sessions)

    def _forget_expired(self, now: float) -> None:
        expired = [key for key, s in self._sessions.items() if now >= s.expires_at]
        for key in expired:
            del self._sessions[key]


def local_path(target: str | None) -> str:
    """Where to go after signing in: only a path on this site, never another host."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target:  # browsers read "/\evil.example" as "//evil.example"
        return "/"
    return target
