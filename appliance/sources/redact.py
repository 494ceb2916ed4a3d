"""Credentials out of source URIs before they are shown, logged or returned by the API."""

from __future__ import annotations

import re

MASK = "***"
SECRET_KEYS = (
    "password",
    "passwd",
    "pwd",
    "pass",
    "token",
    "access_token",
    "key",
    "api_key",
    "apikey",
    "secret",
    "user-pw",  # GStreamer rtspsrc's password property, inside gst:// pipelines
)

# scheme://user:password@host — the password runs to the last "@" of the token, so one with an
# unescaped "@" or "/" is still hidden (at worst a path with an "@" is hidden too). It matches
# anywhere in the text, e.g. in a gst:// pipeline's rtspsrc location.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)\S+(?=@)")
# name=value after "?", "&", ";" or whitespace (URL queries and GStreamer element properties).
_PARAM = re.compile(
    r"(?P<head>(?:^|[?&;\s])(?:" + "|".join(map(re.escape, SECRET_KEYS)) + r")=)"
    r"(?:\"[^\"]*\"|'[^']*'|[^&#\s]+)",
    re.IGNORECASE,
)


def redact(uri: str) -> str:
    """`uri` with every password and secret-looking parameter replaced by `***`."""
    hidden = _USERINFO.sub(lambda m: m["head"] + MASK, uri)
    return _PARAM.sub(lambda m: m["head"] + MASK, hidden)
