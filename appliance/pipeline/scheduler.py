"""One inference worker per loaded engine, shared fairly by every camera that uses it."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TypeVar

from loguru import logger

from appliance.domain import DetectionResult, DetectParams, Frame, ProcessedFrame
from appliance.errors import ApplianceError
from appliance.models.detector import DecodedImage, Detector, EngineOutput, PreparedBatch
from appliance.pipeline.latest import LatestSlot

T = TypeVar("T")
R = TypeVar("R")
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


Picked = tuple[CameraFeed, Frame]


@dataclass
class _Batch:
    """Frames of one engine run, from preprocessing to delivery."""

    picked: list[Picked]
    prepared: PreparedBatch
    answer: Future[EngineOutput] = field(default_factory=Future)


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
        """Keep the engine busy: the next batch is picked and preprocessed while the engine
        runs the current one, and the current one is postprocessed and delivered while the
        engine runs the next. Without this the engine idles through every frame's pre- and
        postprocessing; with it, that work fills cores the engine leaves idle (a GPU engine
        leaves them all). The price, only while the engine is saturated: a frame may wait
        for the one run ahead of it."""
        running: _Batch | None = None  # on the engine
        ready: _Batch | None = None  # preprocessed, waiting for the engine
        engine = _EngineThread(f"engine-{self.detector.ref.name}")
        try:
            while not self._stop.is_set():
                self.heartbeat = now = time.monotonic()
                if ready is None:
                    ready = self._prepare(self._pick(now))
                if running is not None and (ready is not None or running.answer.done()):
                    # queue the next batch behind the engine's current one, so the engine
                    # never waits for this thread; then postprocess and deliver the current
                    finished, running, ready = running, self._submit(engine, ready), None
                    self._finish(finished)
                elif running is None and ready is not None:
                    running, ready = self._submit(engine, ready), None
                else:
                    self._sleep(now)
            # stopping (a swap moved the cameras away, or shutdown): every frame picked is
            # still delivered, so a swap skips none
            for batch in (running, self._submit(engine, ready)):
                if batch is not None:
                    self._finish(batch)
        finally:
            engine.close()

    def _prepare(self, picked: list[Picked]) -> _Batch | None:
        if not picked:
            return None
        images = [DecodedImage(frame.pixels) for _, frame in picked]
        try:
            prepared = self.detector.prepare(images, [feed.params for feed, _ in picked])
        except Exception as exc:
            self._failed(picked, exc)
            return None
        return _Batch(picked, prepared)

    def _submit(self, engine: _EngineThread, batch: _Batch | None) -> _Batch | None:
        """Queue a batch on the engine thread; the engine finishing it wakes this worker."""
        if batch is not None:
            batch.answer = engine.submit(self.detector.run, batch.prepared)
            batch.answer.add_done_callback(lambda _: self.notify())
        return batch

    def _finish(self, batch: _Batch) -> None:
        try:
            answer = batch.answer.result()
            results = self.detector.finish(batch.prepared, answer)
            self._deliver(batch.picked, results, answer.started_mono)
        except Exception as exc:
            self._failed(batch.picked, exc)

    def _deliver(
        self, picked: list[Picked], results: list[DetectionResult], engine_started: float
    ) -> None:
        for (feed, frame), result in zip(picked, results, strict=True):
            t = result.timings
            waited_ms = (engine_started - frame.captured_mono) * 1000 - t.preprocess_ms
            stages = {
                # from capture (when read() returned the frame) to the engine, less
                # preprocessing: waiting to be picked, and for the engine to be free
                "queue_ms": round(waited_ms, 3),
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

    def _failed(self, picked: list[Picked], exc: BaseException) -> None:
        if isinstance(exc, ApplianceError):
            self._report(picked, exc.message)
            return
        # the worker outlives any one bad frame, or bad model
        message = f"{type(exc).__name__}: {exc}"
        if message != self._last_crash:
            self._last_crash = message
            logger.opt(exception=exc).error("inference on {} crashed", self.detector.ref.name)
        self._report(picked, message)

    def _pick(self, now: float) -> list[Picked]:
        with self._wake:
            self._pending = False
            feeds = list(self._feeds.values())
        if not feeds:
            return []
        picked: list[Picked] = []
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

    def _report(self, picked: list[Picked], message: str) -> None:
        for feed, _ in picked:
            feed.failing = True
            if self._on_error is not None:
                self._on_error(feed.camera_id, message)


class _EngineThread:
    """Runs engine calls one at a time, in order, on a daemon thread of its own (unlike a
    ThreadPoolExecutor's, an engine that hangs cannot hold up the process's exit)."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future, Callable, object] | None] = queue.SimpleQueue()
        threading.Thread(target=self._run, name=name, daemon=True).start()

    def submit(self, call: Callable[[T], R], argument: T) -> Future[R]:
        answer: Future[R] = Future()
        self._jobs.put((answer, call, argument))
        return answer

    def close(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            answer, call, argument = job
            if answer.set_running_or_notify_cancel():
                try:
                    answer.set_result(call(argument))
                except BaseException as exc:  # the caller decides what a failure means
                    answer.set_exception(exc)
