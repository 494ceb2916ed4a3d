"""One viewer's place at a camera: the single way frames leave the pipeline for people."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from appliance.domain import ProcessedFrame
from appliance.pipeline.waiters import next_value

if TYPE_CHECKING:
    from appliance.pipeline.broadcast import Broadcaster

Variant = tuple[bool, bool]  # (annotated, preview)
POLL_S = 2.0  # how often a waiting viewer looks whether its camera went away


@dataclass(frozen=True, slots=True, eq=False)
class EncodedFrame:
    """A processed frame as a viewer gets it; `jpeg` is None for a detections-only viewer."""

    processed: ProcessedFrame
    jpeg: bytes | None
    annotated: bool
    encoded_mono: float
    preview: bool = False


class Watch:
    """An admitted viewer: an async iterator of its variant's frames, newest first, skipping
    what it was too slow for. The place is given back once, however the viewer ends:
    `async with`, `close()`, or the camera going away (the iteration then stops)."""

    def __init__(self, broadcaster: Broadcaster, variant: Variant | None, fps: float | None):
        self._broadcaster = broadcaster
        self._variant = variant
        self._min_gap = 1 / fps if fps else 0.0
        self._version = 0 if variant is None else broadcaster.start_version(variant)
        self._last: EncodedFrame | None = None
        self._next_at = 0.0
        self._closed = False

    @property
    def camera_id(self) -> str:
        return self._broadcaster.camera_id

    @property
    def ended(self) -> bool:
        return self._closed or self._broadcaster.closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._broadcaster.leave(self._variant)

    async def __aenter__(self) -> Watch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> EncodedFrame:
        while not self.ended:
            got = await self.next(POLL_S)
            if got is not None:
                return got
        self.close()
        raise StopAsyncIteration

    async def next(self, timeout: float) -> EncodedFrame | None:
        """The next frame newer than the last one this viewer got (after the fps gap), or
        None after `timeout` or once ended."""
        self._delivered()
        if self._min_gap:
            now = time.monotonic()
            self._next_at = max(self._next_at, now) + self._min_gap
            await asyncio.sleep(max(0.0, self._next_at - self._min_gap - now))
        got = await self._wait(timeout)
        if got is None:
            return None
        self._version, self._last = got
        return self._last

    def message(self, render: Callable[[ProcessedFrame], str]) -> str:
        """`render` of the last frame, computed once per frame however many viewers ask."""
        assert self._last is not None
        return self._broadcaster.message(self._last.processed, render)

    async def _wait(self, timeout: float) -> tuple[int, EncodedFrame] | None:
        b = self._broadcaster
        if self._variant is None:
            got = await next_value(
                b.processed, b.processed_waiters, self._version, timeout, b.closed_event
            )
            if got is None:
                return None
            version, processed = got
            return version, EncodedFrame(processed, None, False, time.monotonic())
        return await next_value(
            b.variants[self._variant],
            b.encoded_waiters[self._variant],
            self._version,
            timeout,
            b.closed_event,
        )

    def _delivered(self) -> None:
        """The previous frame has been handed on: record how long that took since encoding."""
        last, self._last = self._last, None
        if last is not None and last.jpeg is not None:
            self._broadcaster.add_stages(
                {"delivery_ms": round((time.monotonic() - last.encoded_mono) * 1000, 3)}
            )
