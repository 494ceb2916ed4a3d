"""Encode once, fan out: one camera's processed frames to any number of viewers.

The inference worker publishes each processed frame here. An encoder thread annotates and
JPEG-encodes it, once per variant (annotated or raw, full size or a preview at most
PREVIEW_WIDTH wide) and only while some viewer watches that variant; every viewer then gets
the same bytes. Viewers only ever take the newest frame, so a
slow one skips frames and can neither slow the pipeline nor grow memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
from loguru import logger

from appliance.domain import Detection, ProcessedFrame
from appliance.errors import TooManyViewersError
from appliance.imaging import encode_jpeg
from appliance.pipeline.annotate import draw_detections, draw_overlay
from appliance.pipeline.latest import LatestSlot
from appliance.pipeline.stats import RateMeter, StageLatencies

PREVIEW_WIDTH = 640  # tiles and thumbnails: a ninth of 1080p's pixels to encode, send, decode
Variant = tuple[bool, bool]  # (annotated, preview)


@dataclass(frozen=True, slots=True, eq=False)
class EncodedFrame:
    processed: ProcessedFrame
    jpeg: bytes
    annotated: bool
    encoded_mono: float
    preview: bool = False


class _AsyncWaiters:
    """Wakes asyncio tasks (on any loop) from other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @contextmanager
    def waiter(self) -> Iterator[asyncio.Event]:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(entry)
        try:
            yield entry[1]
        finally:
            with self._lock:
                self._waiters.discard(entry)

    def wake_all(self) -> None:
        """One call per event loop, however many waiters it has: each call costs the loop a
        wake-up through its self-pipe."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Event]] = {}
        with self._lock:
            for loop, event in self._waiters:
                by_loop.setdefault(loop, []).append(event)
        for loop, events in by_loop.items():
            if not loop.is_closed():
                loop.call_soon_threadsafe(_set_all, events)


def _set_all(events: list[asyncio.Event]) -> None:
    for event in events:
        event.set()


class Viewer:
    """One admitted viewer's place; `close` is idempotent, so every exit path may call it."""

    def __init__(self, broadcaster: Broadcaster, variant: Variant | None) -> None:
        self._broadcaster = broadcaster
        self._variant = variant
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._broadcaster._leave(self._variant)

    def __enter__(self) -> Viewer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Broadcaster:
    def __init__(
        self,
        camera_id: str,
        *,
        quality: int = 80,
        on_stages: Callable[[str, dict[str, float]], None] | None = None,
        max_viewers: int | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.max_viewers = max_viewers  # places for network viewers (admit); None: no cap
        self._admitted = 0
        self._on_stages = on_stages  # every stage measurement, e.g. for Prometheus
        self.processed: LatestSlot[ProcessedFrame] = LatestSlot()
        self.stages = StageLatencies()
        self.fps_out = RateMeter()
        self._quality = quality
        variants: list[Variant] = list(itertools.product((True, False), repeat=2))
        self._variants = {variant: LatestSlot[EncodedFrame]() for variant in variants}
        self._viewers = dict.fromkeys(variants, 0)
        self._lock = threading.Lock()
        # who waits for what: viewers of one variant are woken only by its new frames
        self._processed_waiters = _AsyncWaiters()
        self._encoded_waiters = {variant: _AsyncWaiters() for variant in variants}
        self._closed = threading.Event()
        self._wake = threading.Event()  # something for the encoder: a frame, a viewer, close
        self.encodes = 0
        self._message: tuple[ProcessedFrame, str] | None = None
        self._thread = threading.Thread(
            target=self._encode_loop, name=f"encode-{camera_id}", daemon=True
        )
        self._thread.start()

    # --- producer side (inference thread) ------------------------------------------------

    def publish(self, processed: ProcessedFrame) -> None:
        current = self.processed.peek()[1]
        if current is not None and processed.frame.frame_id <= current.frame.frame_id:
            return  # an older frame finishing late (a model swap's last one): never go back
        self.fps_out.tick()
        self._add_stages(processed.stages_ms)
        self.processed.put(processed)
        if any(self._viewers.values()):  # (a viewer who arrives now wakes the encoder itself)
            self._wake.set()
        self._processed_waiters.wake_all()

    def close(self) -> None:
        """End every stream of this camera now (camera removed, or shutdown). Never blocks."""
        self._closed.set()
        self._wake.set()
        self._processed_waiters.wake_all()
        for waiters in self._encoded_waiters.values():
            waiters.wake_all()

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # --- consumer side (asyncio) ---------------------------------------------------------

    @contextmanager
    def watching(self, annotated: bool, *, preview: bool = False) -> Iterator[None]:
        """Count a viewer of one variant for as long as it watches."""
        variant = (annotated, preview)
        with self._lock:
            self._viewers[variant] += 1
        self._wake.set()  # a new viewer gets the current frame now, not at the next one
        try:
            yield
        finally:
            with self._lock:
                self._viewers[variant] -= 1

    def admit(self, annotated: bool | None, *, preview: bool = False) -> Viewer:
        """A network viewer's place (MJPEG, WebSocket, snapshot), counted against
        `max_viewers`: TooManyViewersError when they are all taken. `annotated` None: the
        viewer wants metadata only (no encoding). Close the Viewer when it leaves."""
        with self._lock:
            if self.max_viewers is not None and self._admitted >= self.max_viewers:
                raise TooManyViewersError(
                    f"camera {self.camera_id!r} already has {self.max_viewers} viewers "
                    "(APPLIANCE_MAX_VIEWERS_PER_CAMERA); retry later",
                    retry_after=2.0,
                )
            self._admitted += 1
            variant = None if annotated is None else (annotated, preview)
            if variant is not None:
                self._viewers[variant] += 1
        if variant is not None:
            self._wake.set()
        return Viewer(self, variant)

    def _leave(self, variant: Variant | None) -> None:
        with self._lock:
            self._admitted -= 1
            if variant is not None:
                self._viewers[variant] -= 1

    @property
    def admitted(self) -> int:
        with self._lock:
            return self._admitted

    @property
    def viewers(self) -> int:
        with self._lock:
            return sum(self._viewers.values())

    async def next_encoded(
        self, annotated: bool, after: int, timeout: float = 5.0, *, preview: bool = False
    ) -> tuple[int, EncodedFrame] | None:
        """The newest encoded frame newer than version `after`; None once closed or timed out."""
        variant = (annotated, preview)
        return await self._next(
            self._variants[variant], self._encoded_waiters[variant], after, timeout
        )

    async def next_processed(
        self, after: int, timeout: float = 5.0
    ) -> tuple[int, ProcessedFrame] | None:
        return await self._next(self.processed, self._processed_waiters, after, timeout)

    def start_version(self, annotated: bool, *, preview: bool = False) -> int:
        """Where a new viewer of a variant starts: 0 (take what is there) when its newest
        encoding is of the newest frame, else that encoding's version, so the viewer waits
        for the next one. The slot may hold a frame encoded minutes ago, when someone last
        watched; a snapshot or a stream must not open with it."""
        version, encoded = self._variants[(annotated, preview)].peek()
        fresh = encoded is not None and encoded.processed is self.processed.peek()[1]
        return 0 if fresh else version

    def latest_encoded(self, annotated: bool, *, preview: bool = False) -> EncodedFrame | None:
        return self._variants[(annotated, preview)].peek()[1]

    def message(self, processed: ProcessedFrame, render: Callable[[ProcessedFrame], str]) -> str:
        """`render(processed)`, computed once per frame however many viewers ask (asyncio only)."""
        cached = self._message
        if cached is None or cached[0] is not processed:
            cached = self._message = (processed, render(processed))
        return cached[1]

    def record_delivery(self, ms: float) -> None:
        self._add_stages({"delivery_ms": ms})

    def _add_stages(self, stages: dict[str, float]) -> None:
        self.stages.add(stages)
        if self._on_stages is not None:
            self._on_stages(self.camera_id, stages)

    async def _next(self, slot: LatestSlot, waiters: _AsyncWaiters, after: int, timeout: float):
        deadline = time.monotonic() + timeout
        while not self._closed.is_set():
            with waiters.waiter() as changed:
                version, value = slot.peek()
                if value is not None and version > after:
                    return version, value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                # a timer that sets the event, not wait_for: that wraps every wait of every
                # viewer for every frame in a Task of its own
                timer = asyncio.get_running_loop().call_later(remaining, changed.set)
                try:
                    await changed.wait()
                finally:
                    timer.cancel()
        return None

    # --- encoder thread ------------------------------------------------------------------

    def _encode_loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            processed = self.processed.peek()[1]
            if processed is None or self._closed.is_set():
                continue
            with self._lock:
                wanted = [variant for variant, count in self._viewers.items() if count > 0]
            for variant in wanted:
                try:
                    self._encode(processed, variant)
                except Exception as exc:  # one bad frame must not end the stream
                    logger.opt(exception=exc).error("encoding for {} failed", self.camera_id)
                self._encoded_waiters[variant].wake_all()

    def _encode(self, processed: ProcessedFrame, variant: Variant) -> None:
        slot = self._variants[variant]
        current = slot.peek()[1]
        if current is not None and current.processed is processed:
            return  # this frame is already out in this variant
        annotated, preview = variant
        start = time.monotonic()
        pixels, detections = processed.frame.pixels, processed.result.detections
        if preview and pixels.shape[1] > PREVIEW_WIDTH:
            # shrink first, then draw: boxes and labels stay sharp and readable
            scale = PREVIEW_WIDTH / pixels.shape[1]
            size = (PREVIEW_WIDTH, max(1, round(pixels.shape[0] * scale)))
            pixels = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
            detections = tuple(_scaled(d, scale) for d in detections)
        if annotated:
            latency_ms = (start - processed.frame.captured_mono) * 1000
            pixels = draw_detections(pixels, detections)
            draw_overlay(pixels, f"{self.fps_out.rate():.1f} fps  {latency_ms:.0f} ms")
        jpeg = encode_jpeg(pixels, self._quality)
        done = time.monotonic()
        self.encodes += 1
        self._add_stages({"encode_ms": round((done - start) * 1000, 3)})
        slot.put(EncodedFrame(processed, jpeg, annotated, done, preview))


def _scaled(detection: Detection, scale: float) -> Detection:
    return dataclasses.replace(
        detection,
        x1=detection.x1 * scale,
        y1=detection.y1 * scale,
        x2=detection.x2 * scale,
        y2=detection.y2 * scale,
    )
