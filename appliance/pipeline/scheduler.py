"""One inference worker per loaded engine, shared fairly by every camera that uses it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from loguru import logger

from appliance.domain import DetectParams, Frame, ProcessedFrame
from appliance.errors import ApplianceError
from appliance.models.detector import DecodedImage, Detector
from appliance.pipeline.latest import LatestSlot

FrameSink = Callable[[ProcessedFrame], None]
ErrorSink = Callable[[str, str | None], None]  # (camera, why inference failed or None: ok)


@dataclass
class CameraFeed:
    """What the scheduler needs of one camera: its newest frames and what to do with them."""

    camera_id: str
    frames: LatestSlot[Frame]
    params: DetectParams
    sink: FrameSink
    fps_limit: float | None = None
    last_version: int = 0
    next_due: float = 0.0
    processed: int = field(default=0)
    failing: bool = False  # the last frame failed: the next good one clears the error


class InferenceWorker:
    """Takes the newest unprocessed frame of each camera in turn (round robin, so none
    starves), batches several cameras' frames when the model has a dynamic batch, honours
    each camera's fps limit, and hands each result to that camera's sink."""

    def __init__(
        self, detector: Detector, *, max_batch: int = 4, on_error: ErrorSink | None = None
    ) -> None:
        self.detector = detector
        self._max_batch = max_batch if detector.dynamic_batch else 1
        self._on_error = on_error
        self._feeds: dict[str, CameraFeed] = {}
        self._cursor = 0
        self._wake = threading.Condition()
        self._pending = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_crash = ""  # a model that fails every frame logs its traceback once
        self.heartbeat = time.monotonic()

    def add(self, feed: CameraFeed) -> None:
        with self._wake:
            self._feeds[feed.camera_id] = feed
        self.notify()

    def remove(self, camera_id: str) -> None:
        with self._wake:
            self._feeds.pop(camera_id, None)

    def notify(self) -> None:
        """A camera published a frame: wake the worker (cheap; called from capture threads)."""
        with self._wake:
            self._pending = True
            self._wake.notify()

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"infer-{self.detector.ref.name}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            picked = self._pick(self.heartbeat)
            if not picked:
                self._sleep(self.heartbeat)
                continue
            try:
                self._process(picked)
            except ApplianceError as exc:
                self._report(picked, exc.message)
            except Exception as exc:  # the worker outlives any one bad frame, or bad model
                message = f"{type(exc).__name__}: {exc}"
                if message != self._last_crash:
                    self._last_crash = message
                    logger.opt(exception=exc).error(
                        "inference on {} crashed", self.detector.ref.name
                    )
                self._report(picked, message)

    def _pick(self, now: float) -> list[tuple[CameraFeed, Frame]]:
        with self._wake:
            self._pending = False
            feeds = list(self._feeds.values())
        if not feeds:
            return []
        picked: list[tuple[CameraFeed, Frame]] = []
        start = self._cursor % len(feeds)
        for offset in range(len(feeds)):
            feed = feeds[(start + offset) % len(feeds)]
            version, frame = feed.frames.peek()
            if frame is None or version <= feed.last_version or now < feed.next_due:
                continue
            feed.last_version = version
            feed.frames.mark_taken(version)
            if feed.fps_limit:
                feed.next_due = max(now, feed.next_due) + 1 / feed.fps_limit
            picked.append((feed, frame))
            self._cursor = start + offset + 1
            if len(picked) == self._max_batch:
                break
        return picked

    def _sleep(self, now: float) -> None:
        """Wait for a new frame, or for the earliest fps-limited camera to come due."""
        with self._wake:
            due = [f.next_due - now for f in self._feeds.values() if f.next_due > now]
            timeout = min([0.5, *due])
            if not self._pending:
                self._wake.wait(timeout)

    def _process(self, picked: list[tuple[CameraFeed, Frame]]) -> None:
        started = time.monotonic()
        images = [DecodedImage(frame.pixels) for _, frame in picked]
        results = self.detector.detect(images, [feed.params for feed, _ in picked])
        for (feed, frame), result in zip(picked, results, strict=True):
            t = result.timings
            stages = {
                # from capture (the frame's timestamp: when read() returned it) to inference
                "queue_ms": round((started - frame.captured_mono) * 1000, 3),
                "preprocess_ms": t.preprocess_ms,
                "infer_ms": t.infer_ms,
                "postprocess_ms": t.postprocess_ms,
            }
            feed.processed += 1
            if feed.failing:
                feed.failing = False
                if self._on_error is not None:
                    self._on_error(feed.camera_id, None)
            feed.sink(ProcessedFrame(frame, result, stages))

    def _report(self, picked: list[tuple[CameraFeed, Frame]], message: str) -> None:
        for feed, _ in picked:
            feed.failing = True
            if self._on_error is not None:
                self._on_error(feed.camera_id, message)
