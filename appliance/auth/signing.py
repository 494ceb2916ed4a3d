"""Short-lived signed URLs for `<img src>` and other places that cannot send a header.

`sign("/v1/cameras/cam/stream.mjpg")` appends `exp` (unix seconds) and `sig`, an HMAC-SHA256
over the path and the expiry with a per-install secret. A valid signature stands for read
access (scope viewer) to exactly that path until `exp`; other query parameters are not covered
(they only choose how to show what the path already allows: annotate, fps...).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from collections.abc import Callable, Mapping
from enum import Enum
from urllib.parse import urlencode

MAX_TTL_S = 24 * 3600.0  # a leaked URL stays useful for a day at most


class Signature(Enum):
    VALID = "valid"
    EXPIRED = "expired"  # made by us, too late: a page left open, not a guess
    INVALID = "invalid"  # missing, malformed or not ours


class UrlSigner:
    def __init__(self, key: Callable[[], bytes], clock: Callable[[], float] = time.time) -> None:
        # key is a callable so the secret file is only read (or created) when first needed:
        # a service with authentication off writes nothing for it
        self._key = key
        self._clock = clock

    def sign(self, path: str, ttl_s: float = 60) -> str:
        """`path` (it may carry a query) with `exp` and `sig` added."""
        if not 0 < ttl_s <= MAX_TTL_S:
            raise ValueError(f"ttl_s must be in (0, {MAX_TTL_S:.0f}]")
        bare, _, query = path.partition("?")
        if not bare.startswith("/"):
            raise ValueError(f"sign a path starting with '/', not {path!r}")
        exp = math.ceil(self._clock() + ttl_s)
        signed = urlencode({"exp": exp, "sig": self._mac(bare, exp)})
        return f"{bare}?{query}&{signed}" if query else f"{bare}?{signed}"

    def check(self, path: str, query: Mapping[str, str]) -> bool:
        """Whether `query` holds an unexpired signature made for `path` (the path alone)."""
        return self.verify(path, query) is Signature.VALID

    def verify(self, path: str, query: Mapping[str, str]) -> Signature:
        exp, sig = query.get("exp", ""), query.get("sig", "")
        # ASCII only: int() reads other digits and compare_digest refuses non-ASCII text
        if not (exp.isascii() and exp.isdigit() and len(exp) <= 12 and sig.isascii() and sig):
            return Signature.INVALID
        if not hmac.compare_digest(self._mac(path, int(exp)), sig):
            return Signature.INVALID
        return Signature.VALID if int(exp) >= self._clock() else Signature.EXPIRED

    def _mac(self, path: str, exp: int) -> str:
        digest = hmac.new(self._key(), f"{path}\n{exp}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
