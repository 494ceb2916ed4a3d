"""Credentials never reach a log: tokens (also inside `?access_token=`), URL signatures and
one-time sign-in codes (`/login?code=`) are masked in every record, whichever library wrote
it (uvicorn logs WebSocket paths with their query)."""

from __future__ import annotations

import re

_PARAMS = re.compile(r"(?<![^&?\s\"'])(access_token|sig)=[^&\s\"']*")
# `code` only as a query parameter (after ? or &, or opening a bare query string): "code="
# after a space is some other message's word.
_CODES = re.compile(r"(?<![^&?])code=[^&\s\"']*")
_TOKENS = re.compile(r"\b(apl_[0-9a-f]{8})_[A-Za-z0-9_-]+")  # the id may stay: not secret


def redact(text: str) -> str:
    if not any(marker in text for marker in ("access_token=", "sig=", "apl_", "code=")):
        return text  # the common case, without a regex
    text = _CODES.sub("code=***", _PARAMS.sub(r"\1=***", text))
    return _TOKENS.sub(r"\1_***", text)
