"""One inference worker per loaded engine, shared fairly by every camera that uses it and by
the detect requests sent to its model."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
from loguru import logger

from appliance.domain import DetectionResult, DetectParams, Frame
from appliance.errors import ApplianceError, ModelClosedError
from appliance.models.detector import DecodedImage, Detector, EngineOutput
from appliance.pipeline.engine_thread import EngineThread
from appliance.pipeline.feeds import Batch, CameraFeed, CameraItem, Item, RequestItem
from appliance.pipeline.motion_gate import due

ErrorSink = Callable[[str, str | None], None]  # (camera, why inference failed or None: ok)
HANDOVER_PATIENCE_S = 2.0  # a camera moved here waits this long at most for its old worker


@dataclass
class DetectRequest:
    """Images a client sent, detected together; `answer` gets one result per image."""

    images: list[DecodedImage]
    params: DetectParams
    answer: Future[list[DetectionResult]] = field(default_factory=Future)
    results: list[DetectionResult | None] = field(default_factory=list)
    remaining: int = 0

    def __post_init__(self) -> None:
        self.results = [None] * len(self.images)
        self.remaining = len(self.images)


class InferenceWorker:
    """Takes detect requests first (a client waits on each), then the newest unprocessed
    frame of each camera in turn (round robin, so none starves), batches several when the
    model has a dynamic batch, honours each camera's fps limit, and hands each result on.
    Only this worker's engine thread ever calls its engine."""

    def __init__(
        self, detector: Detector, *, max_batch: int = 4, on_error: ErrorSink | None = None
    ) -> None:
        self.detector = detector
        self._max_batch = max_batch if detector.dynamic_batch else 1
        self._on_error = on_error
        self._feeds: dict[str, CameraFeed] = {}
        self._requests: deque[tuple[DetectRequest, int]] = deque()  # (request, next image)
        self._cursor = 0
        self._wake = threading.Condition()
        self._pending = False
        self._stopping = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._engine = EngineThread(f"engine-{detector.ref.name}")
        self._last_crash = ""  # a model that fails every frame logs its traceback once
        self.heartbeat = time.monotonic()

    # --- what the pipeline and services call ---------------------------------------------

    def add(self, feed: CameraFeed) -> None:
        with self._wake:
            self._feeds[feed.camera_id] = feed
        self.notify()

    def remove(self, camera_id: str) -> None:
        with self._wake:
            self._feeds.pop(camera_id, None)

    def submit(self, images: list[DecodedImage], params: DetectParams) -> Future:
        """Detect `images` in turn with the cameras' frames; ModelClosedError once stopping."""
        request = DetectRequest(images, params)
        with self._wake:
            if self._stopping:
                raise ModelClosedError(f"model {self.detector.ref.name} was replaced")
            if images:
                self._requests.append((request, 0))
            self._pending = True
            self._wake.notify()
        if not images:
            request.answer.set_result([])
        return request.answer

    def submit_tensor(self, tensor: np.ndarray) -> Future[list[np.ndarray]]:
        """Run the engine on a raw input tensor (Open Inference Protocol), in turn with the
        batches of this worker, on its engine thread."""
        with self._wake:
            if self._stopping:
                raise ModelClosedError(f"model {self.detector.ref.name} was replaced")
            return self._engine.submit(self.detector.run_tensor, tensor)

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

    def retire(self) -> None:
        """Accept no new request; what was accepted is still answered (blue/green swaps)."""
        with self._wake:
            self._stopping = True

    def stop(self, timeout: float = 10.0) -> None:
        self.retire()
        self._stop.set()
        self.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def cameras(self) -> list[str]:
        with self._wake:
            return list(self._feeds)

    # --- the worker thread ---------------------------------------------------------------

    def _run(self) -> None:
        """Keep the engine busy: the next batch is picked and preprocessed while the engine
        runs the current one, and the current one is postprocessed and delivered while the
        engine runs the next. Without this the engine idles through every frame's pre- and
        postprocessing; with it, that work fills cores the engine leaves idle (a GPU engine
        leaves them all). The price, only while the engine is saturated: a frame may wait
        for the one run ahead of it."""
        inflight: deque[Batch] = deque()  # on the engine thread, oldest first (at most 2)
        ready: Batch | None = None  # preprocessed, not on the engine yet
        try:
            while not self._stop.is_set() or self._has_requests():
                self.heartbeat = now = time.monotonic()
                if ready is None:
                    ready = self._prepare(self._pick(now))
                if inflight and (ready is not None or inflight[0].answer.done()):
                    # queue the next batch behind the engine's current one, so the engine
                    # never waits for this thread; then postprocess and deliver the current
                    if ready is not None and len(inflight) < 2:  # (3 after requests cut in)
                        inflight.append(self._submit(ready))
                        ready = None
                    self._finish_head(inflight)
                elif ready is not None:
                    inflight.append(self._submit(ready))
                    ready = None
                else:
                    self._sleep(now)
            # stopping (a swap moved the cameras away, or shutdown): every frame picked is
            # still delivered, so a swap skips none
            if ready is not None:
                inflight.append(self._submit(ready))
            while inflight:
                self._finish(inflight.popleft())
        finally:
            self._engine.close()

    def _finish_head(self, inflight: deque[Batch]) -> None:
        """Wait for the oldest batch on the engine, letting requests that arrive meanwhile
        ahead of a camera batch queued behind it; then postprocess and deliver it."""
        head = inflight[0]
        while not head.answer.done():
            self._let_requests_in(inflight)
            self._carry(self._pick_carried(time.monotonic()))  # viewers wait for no engine
            with self._wake:
                if not self._pending and not head.answer.done():
                    self._wake.wait(0.5)
                self._pending = False  # the loop picks anew after this anyway
        self._finish(inflight.popleft())

    def _let_requests_in(self, inflight: deque[Batch]) -> None:
        """A client waits for the engine run in progress, not also for the camera batch
        queued behind it: while the engine has not started that batch, it goes back behind
        a batch of the waiting requests (its frames are kept, not picked again)."""
        queued = inflight[-1]
        if len(inflight) < 2 or not self._has_requests():
            return
        if any(isinstance(item, RequestItem) for item in queued.items):
            return
        if not queued.answer.cancel():
            return  # the engine has started it
        inflight.pop()
        with self._wake:
            requests = self._pick_requests()
        first = self._prepare(requests)
        if first is not None:
            inflight.append(self._submit(first))
        inflight.append(self._submit(queued))

    def _has_requests(self) -> bool:
        with self._wake:
            return bool(self._requests)

    def _prepare(self, items: list[Item]) -> Batch | None:
        if not items:
            return None
        try:
            prepared = self.detector.prepare(
                [item.image for item in items], [item.params for item in items]
            )
        except Exception as exc:
            self._failed(items, exc)
            return None
        return Batch(items, prepared)

    def _submit(self, batch: Batch | None) -> Batch | None:
        """Queue a batch on the engine thread; the engine finishing it wakes this worker."""
        if batch is not None:
            batch.answer = self._engine.submit(self.detector.run, batch.prepared)
            batch.answer.add_done_callback(lambda _: self.notify())
        return batch

    def _finish(self, batch: Batch) -> None:
        try:
            answer: EngineOutput = batch.answer.result()
            results = self.detector.finish(batch.prepared, answer)
        except Exception as exc:
            self._failed(batch.items, exc)
            return
        for item, result in zip(batch.items, results, strict=True):
            item.deliver(result, answer.started_mono)
            if isinstance(item, CameraItem):
                self._recovered(item.feed)

    def _recovered(self, feed: CameraFeed) -> None:
        if feed.failing:
            feed.failing = False
            if self._on_error is not None:
                self._on_error(feed.camera_id, None)

    def _failed(self, items: list[Item], exc: BaseException) -> None:
        if isinstance(exc, ApplianceError):
            message = exc.message
        else:  # the worker outlives any one bad frame, or bad model
            message = f"{type(exc).__name__}: {exc}"
            if message != self._last_crash:
                self._last_crash = message
                logger.opt(exception=exc).error("inference on {} crashed", self.detector.ref.name)
        for item in items:
            item.fail(exc)
            if isinstance(item, CameraItem):
                item.feed.failing = True
                if self._on_error is not None:
                    self._on_error(item.feed.camera_id, message)

    def _pick(self, now: float) -> list[Item]:
        """Requests first, then cameras round robin, up to one batch. Under the lock: a
        feed removed (or moved to another worker) is never picked after `remove` returns.
        Frames the motion gate skips are carried out after the lock is released."""
        carried: list[tuple[CameraFeed, Frame]] = []
        with self._wake:
            self._pending = False
            items: list[Item] = self._pick_requests()
            if len(items) < self._max_batch:
                items += self._pick_frames(now, self._max_batch - len(items), carried)
        self._carry(carried)
        return items

    def _pick_carried(self, now: float) -> list[tuple[CameraFeed, Frame]]:
        """Only the frames the motion gate skips (a frame due for inference stays for the
        next pick): while this thread waits for the engine, viewers still get them."""
        carried: list[tuple[CameraFeed, Frame]] = []
        with self._wake:
            self._pick_frames(now, 0, carried, infer=False)
        return carried

    @staticmethod
    def _carry(carried: list[tuple[CameraFeed, Frame]]) -> None:
        for feed, frame in carried:
            if feed.carry is not None:
                feed.carry(frame)

    def _pick_requests(self) -> list[Item]:
        items: list[Item] = []
        while self._requests and len(items) < self._max_batch:
            request, index = self._requests[0]
            if index == 0 and not request.answer.set_running_or_notify_cancel():
                self._requests.popleft()  # the client left before its turn
                continue
            take = min(len(request.images) - index, self._max_batch - len(items))
            items += [RequestItem(request, i) for i in range(index, index + take)]
            if index + take == len(request.images):
                self._requests.popleft()
            else:
                self._requests[0] = (request, index + take)
        return items

    def _pick_frames(
        self,
        now: float,
        room: int,
        carried: list[tuple[CameraFeed, Frame]],
        *,
        infer: bool = True,
    ) -> list[Item]:
        feeds = list(self._feeds.values())
        picked: list[Item] = []
        start = self._cursor % len(feeds) if feeds else 0
        for offset in range(len(feeds)):
            feed = feeds[(start + offset) % len(feeds)]
            if feed.held_elsewhere(self, now, HANDOVER_PATIENCE_S):
                continue  # just moved here: the old engine finishes its frames first
            plan = feed.plan  # read once: a retune replaces it whole, never in part
            version, frame = feed.frames.peek()
            if frame is None or version <= feed.last_version:
                continue
            if plan.gate is None:
                if now < feed.next_due or not infer:
                    continue
            elif now < feed.next_due or not due(plan.gate, feed.gate, frame.motion, now):
                if feed.gate.inferring(now):
                    continue  # a carried frame waits for the inferred one ahead of it
                feed.last_version = version
                feed.frames.mark_taken(version)
                carried.append((feed, frame))
                continue
            if not infer:
                continue
            feed.last_version = version
            feed.frames.mark_taken(version)
            if plan.fps_limit:
                feed.next_due = max(now, feed.next_due) + 1 / plan.fps_limit
            feed.gate.sent(frame, now)
            feed.taken(self, now)
            picked.append(CameraItem(feed, frame, plan))
            self._cursor = start + offset + 1
            if len(picked) == room:
                break
        return picked

    def _sleep(self, now: float) -> None:
        """Wait for a new frame, or for the earliest fps-limited camera to come due."""
        with self._wake:
            due = [f.next_due - now for f in self._feeds.values() if f.next_due > now]
            timeout = min([0.5, *due])
            if not self._pending:
                self._wake.wait(timeout)
