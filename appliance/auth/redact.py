"""Credentials never reach a log: tokens (also inside `?access_token=`) and URL signatures
are masked in every record, whichever library wrote it (uvicorn logs WebSocket paths with
their query)."""

from __future__ import annotations

import re

_PARAMS = re.compile(r"(?<![^&?\s\"'])(access_token|sig)=[^&\s\"']*")
_TOKENS = re.compile(r"\b(apl_[0-9a-f]{8})_[A-Za-z0-9_-]+")  # the id may stay: not secret


def redact(text: str) -> str:
    if "access_token=" not in text and "sig=" not in text and "apl_" not in text:
        return text  # the common case, without a regex
    return _TOKENS.sub(r"\1_***", _PARAMS.sub(r"\1=***", text))
