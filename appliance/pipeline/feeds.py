"""What an inference worker takes in: camera feeds and detect requests, one item an image."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from appliance.domain import DetectionResult, DetectParams, Frame, ProcessedFrame
from appliance.errors import ApplianceError, InferenceError
from appliance.models.detector import DecodedImage, EngineOutput, PreparedBatch
from appliance.pipeline.latest import LatestSlot
from appliance.pipeline.motion_gate import GatePlan, GateState

if TYPE_CHECKING:
    from appliance.pipeline.scheduler import DetectRequest

FrameSink = Callable[[ProcessedFrame], None]
CarrySink = Callable[[Frame], None]


@dataclass(frozen=True, slots=True)
class FeedPlan:
    """How a camera's frames are inferred. Replaced whole by a retune, never changed in
    part, so the worker thread reads a consistent plan with one attribute read."""

    params: DetectParams = field(default_factory=DetectParams)
    fps_limit: float | None = None
    gate: GatePlan | None = None  # None: every frame is inferred (up to fps_limit)


@dataclass(eq=False)
class CameraFeed:
    """One camera as its inference worker sees it: the newest frames, where results go
    (`carry`: frames the motion gate skips) and the plan. `last_version`, `next_due`,
    `failing`, `gate` and the in-flight count belong to the worker thread that holds
    frames in flight: a worker the feed moves to waits until none are (see `taken`)."""

    camera_id: str
    frames: LatestSlot[Frame]
    sink: FrameSink
    plan: FeedPlan = field(default_factory=FeedPlan)
    carry: CarrySink | None = None
    wake: Callable[[], None] | None = None  # wakes the worker serving the camera now
    last_version: int = 0
    next_due: float = 0.0
    failing: bool = False  # the last frame failed: the next good one clears the error
    gate: GateState = field(default_factory=GateState)
    inflight: int = 0  # frames picked and not yet delivered (or failed)
    picked_by: object = None  # the worker that picked them
    picked_at: float = 0.0  # monotonic
    awaited: bool = False  # a worker the feed moved to waits for those frames

    def taken(self, worker: object, now: float) -> None:
        self.inflight += 1
        self.picked_by, self.picked_at = worker, now

    def done(self) -> None:
        """A picked frame was delivered or failed; the last one hands the feed over to the
        worker it was moved to (a swap), which waited so as not to run two engines at once
        nor deliver out of order."""
        self.inflight -= 1
        if self.inflight == 0 and self.awaited:
            self.awaited = False  # (not per frame: only a waiting worker needs waking)
            if self.wake is not None:
                self.wake()

    def held_elsewhere(self, worker: object, now: float, patience_s: float) -> bool:
        """Whether another worker still has this feed's frames in flight (for at most
        `patience_s`: a worker that hangs does not stall the camera's new one). If so, the
        last of them wakes the camera's worker when it is done."""
        held = (
            self.inflight > 0 and self.picked_by is not worker and now - self.picked_at < patience_s
        )
        self.awaited = self.awaited or held  # (a wake missed in a race: the next frame wakes it)
        return held


class Item(Protocol):
    """One image of a batch, and where its result goes."""

    @property
    def image(self) -> DecodedImage: ...

    @property
    def params(self) -> DetectParams: ...

    def deliver(self, result: DetectionResult, engine_started: float) -> None: ...

    def fail(self, exc: BaseException) -> None: ...


@dataclass(frozen=True, slots=True)
class CameraItem:
    feed: CameraFeed
    frame: Frame
    plan: FeedPlan

    @property
    def image(self) -> DecodedImage:
        return DecodedImage(self.frame.pixels)

    @property
    def params(self) -> DetectParams:
        return self.plan.params

    def deliver(self, result: DetectionResult, engine_started: float) -> None:
        t = result.timings
        waited_ms = (engine_started - self.frame.captured_mono) * 1000 - t.preprocess_ms
        stages = {
            # from capture (when read() returned the frame) to the engine, less
            # preprocessing: waiting to be picked, and for the engine to be free
            "queue_ms": round(waited_ms, 3),
            "preprocess_ms": t.preprocess_ms,
            "infer_ms": t.infer_ms,
            "postprocess_ms": t.postprocess_ms,
        }
        try:
            self.feed.sink(ProcessedFrame(self.frame, result, stages))
        finally:
            self.feed.done()

    def fail(self, exc: BaseException) -> None:
        """The worker reports a camera's failures (once per change), not each item."""
        self.feed.gate.finished(self.frame.frame_id, False)
        self.feed.done()


@dataclass(frozen=True, slots=True)
class RequestItem:
    request: DetectRequest
    index: int

    @property
    def image(self) -> DecodedImage:
        return self.request.images[self.index]

    @property
    def params(self) -> DetectParams:
        return self.request.params

    def deliver(self, result: DetectionResult, engine_started: float) -> None:
        request = self.request
        request.results[self.index] = result
        request.remaining -= 1  # only the worker thread counts
        if request.remaining == 0 and not request.answer.done():
            request.answer.set_result(list(request.results))  # type: ignore[arg-type]

    def fail(self, exc: BaseException) -> None:
        if self.request.answer.done():
            return
        if not isinstance(exc, ApplianceError):
            exc = InferenceError(f"{type(exc).__name__}: {exc}")
        self.request.answer.set_exception(exc)


@dataclass
class Batch:
    """Items of one engine run, from preprocessing to delivery."""

    items: list[Item]
    prepared: PreparedBatch
    answer: Future[EngineOutput] = field(default_factory=Future)
