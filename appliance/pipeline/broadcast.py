"""Encode once, fan out: one camera's processed frames to any number of viewers.

The camera's runtime publishes each processed frame here. An encoder thread annotates and
JPEG-encodes it, once per variant (annotated or raw, full size or a preview at most
PREVIEW_WIDTH wide) and only while some viewer watches that variant; every viewer then gets
the same bytes. Viewers only ever take the newest frame, so a slow one skips frames and can
neither slow the pipeline nor grow memory. Every viewer comes in through `watch()`.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Callable

import cv2
from loguru import logger

from appliance.domain import Detection, ProcessedFrame
from appliance.errors import TooManyViewersError
from appliance.imaging import encode_jpeg
from appliance.pipeline.annotate import draw_detections
from appliance.pipeline.latest import LatestSlot
from appliance.pipeline.scene_layer import SceneLayers
from appliance.pipeline.stats import RateMeter, StageLatencies
from appliance.pipeline.status_line import draw_overlay
from appliance.pipeline.viewers import EncodedFrame, Variant, Watch
from appliance.pipeline.waiters import AsyncWaiters

PREVIEW_WIDTH = 640  # tiles and thumbnails: a ninth of 1080p's pixels to encode, send, decode
VARIANTS: tuple[Variant, ...] = tuple(itertools.product((True, False), repeat=2))


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
        self.max_viewers = max_viewers  # places for viewers (watch); None: no cap
        self._on_stages = on_stages  # every stage measurement, e.g. for Prometheus
        self.processed: LatestSlot[ProcessedFrame] = LatestSlot()
        self.stages = StageLatencies()
        self.fps_out = RateMeter()
        self._quality = quality
        self.variants = {variant: LatestSlot[EncodedFrame]() for variant in VARIANTS}
        self._viewers: dict[Variant | None, int] = dict.fromkeys([*VARIANTS, None], 0)
        self._lock = threading.Lock()
        # who waits for what: viewers of one variant are woken only by its new frames
        self.processed_waiters = AsyncWaiters()
        self.encoded_waiters = {variant: AsyncWaiters() for variant in VARIANTS}
        self.closed_event = threading.Event()
        self._wake = threading.Event()  # something for the encoder: a frame, a viewer, close
        self.encodes = 0
        # the encoder thread's: lines and zones drawn once, their tags clear of the status line
        self._scene_layers = SceneLayers(under_status_line=True)
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
        self.add_stages(processed.stages_ms)
        self.processed.put(processed)
        if any(self._viewers[v] for v in VARIANTS):  # (a new viewer wakes the encoder itself)
            self._wake.set()
        self.processed_waiters.wake_all()

    def close(self) -> None:
        """End every stream of this camera now (camera removed, or shutdown). Never blocks."""
        self.closed_event.set()
        self._wake.set()
        self.processed_waiters.wake_all()
        for waiters in self.encoded_waiters.values():
            waiters.wake_all()

    def join(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)

    @property
    def closed(self) -> bool:
        return self.closed_event.is_set()

    # --- viewers -------------------------------------------------------------------------

    def watch(self, variant: Variant | None, fps: float | None = None) -> Watch:
        """A viewer of one variant ((annotated, preview); None: detections only, nothing
        encoded), admitted now against `max_viewers` (TooManyViewersError when every place
        is taken). Iterate it for frames; its place is given back when it closes."""
        with self._lock:
            if self.max_viewers is not None and self.viewers_locked() >= self.max_viewers:
                raise TooManyViewersError(
                    f"camera {self.camera_id!r} already has {self.max_viewers} viewers "
                    "(APPLIANCE_MAX_VIEWERS_PER_CAMERA); retry later",
                    retry_after=2.0,
                )
            self._viewers[variant] += 1
        if variant is not None:
            self._wake.set()  # a new viewer gets the current frame now, not at the next one
        return Watch(self, variant, fps)

    def leave(self, variant: Variant | None) -> None:
        """A Watch gives its place back (once)."""
        with self._lock:
            self._viewers[variant] -= 1

    @property
    def viewers(self) -> int:
        with self._lock:
            return self.viewers_locked()

    def viewers_locked(self) -> int:
        return sum(self._viewers.values())

    def start_version(self, variant: Variant) -> int:
        """Where a new viewer of a variant starts: 0 (take what is there) when its newest
        encoding is of the newest frame, else that encoding's version, so the viewer waits
        for the next one. The slot may hold a frame encoded minutes ago, when someone last
        watched; a snapshot or a stream must not open with it."""
        version, encoded = self.variants[variant].peek()
        fresh = encoded is not None and encoded.processed is self.processed.peek()[1]
        return 0 if fresh else version

    def message(self, processed: ProcessedFrame, render: Callable[[ProcessedFrame], str]) -> str:
        """`render(processed)`, computed once per frame however many viewers ask (asyncio only)."""
        cached = self._message
        if cached is None or cached[0] is not processed:
            cached = self._message = (processed, render(processed))
        return cached[1]

    def add_stages(self, stages: dict[str, float]) -> None:
        self.stages.add(stages)
        if self._on_stages is not None:
            self._on_stages(self.camera_id, stages)

    # --- encoder thread ------------------------------------------------------------------

    def _encode_loop(self) -> None:
        while not self.closed_event.is_set():
            self._wake.wait(1.0)
            self._wake.clear()
            processed = self.processed.peek()[1]
            if processed is None or self.closed_event.is_set():
                continue
            with self._lock:
                wanted = [variant for variant in VARIANTS if self._viewers[variant] > 0]
            for variant in wanted:
                try:
                    self._encode(processed, variant)
                except Exception as exc:  # one bad frame must not end the stream
                    logger.opt(exception=exc).error("encoding for {} failed", self.camera_id)
                self.encoded_waiters[variant].wake_all()

    def _encode(self, processed: ProcessedFrame, variant: Variant) -> None:
        slot = self.variants[variant]
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
            pixels = draw_detections(
                pixels,
                detections,
                processed.overlay,
                carried=processed.carried,
                layers=self._scene_layers,
            )
            held = "  held" if processed.carried else ""  # the motion gate skipped inference
            draw_overlay(pixels, f"{self.fps_out.rate():.1f} fps  {latency_ms:.0f} ms{held}")
        jpeg = encode_jpeg(pixels, self._quality)
        done = time.monotonic()
        self.encodes += 1
        self.add_stages({"encode_ms": round((done - start) * 1000, 3)})
        slot.put(EncodedFrame(processed, jpeg, annotated, done, preview))


def _scaled(detection: Detection, scale: float) -> Detection:
    return dataclasses.replace(
        detection,
        x1=detection.x1 * scale,
        y1=detection.y1 * scale,
        x2=detection.x2 * scale,
        y2=detection.y2 * scale,
    )


__all__ = ["PREVIEW_WIDTH", "Broadcaster", "EncodedFrame", "Variant", "Watch"]
