"""The "test connection" button: open a source, grab one frame, close it; no camera changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ApplianceError, SourceError
from appliance.imaging import encode_jpeg
from appliance.sources import FrameSource, SourceOptions, open_source, redact


@dataclass(frozen=True)
class ProbeResult:
    uri: str  # redacted
    width: int
    height: int
    open_ms: float  # from open() to the first frame
    jpeg: bytes


async def grab_one_frame(
    uri: str,
    options: SourceOptions | None = None,
    *,
    timeout_s: float = 10.0,
    allowed_roots: Sequence[Path] | None = None,
) -> ProbeResult:
    """One frame from `uri`, or a SourceError/InvalidSourceError that says why not.

    A source that hangs past `timeout_s` is closed from here (FrameSource allows that from
    another thread), so a dead camera costs the caller `timeout_s` at most. A file:// URI
    outside `allowed_roots` (CameraService.media_roots) is refused like a camera's would be.
    """
    options = options or SourceOptions(open_timeout_s=timeout_s, read_timeout_s=timeout_s)
    # raises InvalidSourceError for a bad or disallowed URI at once
    source = open_source(uri, options, allowed_roots=allowed_roots)
    try:
        return await asyncio.wait_for(asyncio.to_thread(_grab, source), timeout_s)
    except asyncio.TimeoutError:  # not the builtin before Python 3.11
        raise SourceError(f"no frame from {redact(uri)} within {timeout_s:g} s") from None
    finally:
        await asyncio.to_thread(source.close)


def _grab(source: FrameSource) -> ProbeResult:
    start = time.perf_counter()
    try:
        source.open()
        pixels = source.read()
    except ApplianceError:
        raise
    except Exception as exc:  # a driver's own exception: still the source's fault
        raise SourceError(f"{source.uri}: {exc}") from exc
    open_ms = (time.perf_counter() - start) * 1000
    height, width = pixels.shape[:2]
    return ProbeResult(source.uri, width, height, round(open_ms, 1), encode_jpeg(pixels))
