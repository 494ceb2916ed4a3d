"""Frame sources: cameras, streams, files and the demo scene, opened from one URI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from appliance.sources.base import FrameSource, SourceOptions
from appliance.sources.demo import DemoSource
from appliance.sources.gstreamer import gstreamer_available
from appliance.sources.opencv import OpenCVSource
from appliance.sources.redact import redact
from appliance.sources.uri import SourceURI, check_allowed, parse_uri

__all__ = [
    "FrameSource",
    "SourceOptions",
    "SourceURI",
    "check_allowed",
    "gstreamer_available",
    "open_source",
    "parse_uri",
    "redact",
]


def open_source(
    uri: str, options: SourceOptions, *, allowed_roots: Sequence[Path] | None = None
) -> FrameSource:
    """The source for `uri`, not yet opened: call open() (in the capture thread, it blocks).

    Raises InvalidSourceError for a malformed or disallowed URI.
    """
    parsed = parse_uri(uri, allowed_roots)
    if parsed.scheme == "demo":
        return DemoSource(parsed, options)
    return OpenCVSource(parsed, options)
