"""One camera's live parts, as the Pipeline wires them."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.domain import Frame, ProcessedFrame
from appliance.pipeline.broadcast import Broadcaster
from appliance.pipeline.camera import CameraWorker
from appliance.pipeline.feeds import CameraFeed, FeedPlan
from appliance.pipeline.motion_gate import GateStats, MotionProbe
from appliance.pipeline.scheduler import InferenceWorker
from appliance.pipeline.stages import Stage, StageError, carry_stages, run_stages

ErrorListener = Callable[[str, str | None], None]  # (camera, why it fails now, or None: ok)


@dataclass(frozen=True)
class CameraPlan:
    """How one camera's frames are processed after capture: what inference is asked for,
    and the stages its results pass through before viewers see them."""

    feed: FeedPlan = field(default_factory=FeedPlan)
    stages: tuple[Stage, ...] = ()


class CameraRuntime:
    """A camera's broadcaster (for as long as the camera exists) and, while it runs, its
    capture worker, its feed and the inference worker that serves it. Only the Pipeline
    changes these, under its lock; the worker thread reads `stages` once per frame, and a
    retune replaces that tuple whole."""

    def __init__(self, camera_id: str, broadcaster: Broadcaster, on_error: ErrorListener):
        self.camera_id = camera_id
        self.broadcaster = broadcaster
        self.capture: CameraWorker | None = None
        self.feed: CameraFeed | None = None
        self.worker: InferenceWorker | None = None
        self.stages: tuple[Stage, ...] = ()
        self._on_error = on_error
        self.changing = threading.Lock()  # one start/stop/remove of this camera at a time
        self._lock = threading.Lock()
        self._inference_error: str | None = None
        self._stage_error: str | None = None
        self._reported: str | None = None
        self.next_frame_id = 1  # a restarted capture continues from here
        self._last_delivered = 0
        self._last_out: ProcessedFrame | None = None  # what a carried frame carries forward
        self.gate_stats = GateStats()
        self.motion = MotionProbe(self.gate_stats)  # runs on the capture thread

    @property
    def error(self) -> str | None:
        return self._stage_error or self._inference_error

    def apply(self, plan: CameraPlan) -> None:
        self.stages = plan.stages
        gate = plan.feed.gate
        self.motion.settings = gate.settings if gate is not None else None
        if self.feed is not None:
            self.feed.plan = plan.feed

    def deliver(self, processed: ProcessedFrame) -> None:
        """The inference worker's result for one frame: through the stages, then out. A
        frame older than one already delivered (the old engine's last, finishing after the
        new engine's first during a swap) is dropped: stages never see time go back."""
        frame_id = processed.frame.frame_id
        feed = self.feed
        with self._lock:
            if frame_id <= self._last_delivered:
                if feed is not None:
                    feed.gate.finished(frame_id, False)
                return
            self._last_delivered = frame_id
        try:
            processed = run_stages(self.stages, processed)
        except StageError as exc:
            if feed is not None:
                feed.gate.finished(frame_id, False)
            self._set_errors(stage=exc.message)
            return
        if feed is not None:
            feed.gate.finished(frame_id, bool(processed.result.detections))
        if self._stage_error is not None:  # (no lock per frame while all is well)
            self._set_errors(stage=None)
        self._last_out = processed
        self.gate_stats.frame(True, processed.frame.captured_mono)
        self.broadcaster.publish(processed)

    def carry(self, frame: Frame) -> None:
        """A frame the motion gate kept from the detector: it still reaches viewers and the
        clip recorder, with the last inferred frame's boxes carried forward (marked so).
        Trackers, counters and events are not told: nothing new was seen."""
        last = self._last_out
        with self._lock:
            if last is None or frame.frame_id <= self._last_delivered:
                return  # nothing inferred yet to carry
            self._last_delivered = frame.frame_id
        overlay = last.overlay
        if overlay is not None and overlay.changes:
            overlay = dataclasses.replace(overlay, changes=())  # they happened on `last`
        carried = ProcessedFrame(frame, last.result, {}, overlay, carried=True)
        try:
            carry_stages(self.stages, carried)
        except StageError as exc:
            self._set_errors(stage=exc.message)
            return
        self.gate_stats.frame(False, frame.captured_mono)
        self.broadcaster.publish(carried)

    def inference_failed(self, message: str | None) -> None:
        self._set_errors(inference=message)

    def clear_errors(self) -> None:
        with self._lock:
            self._inference_error = self._stage_error = self._reported = None

    def notify(self) -> None:
        """A new frame: wake whichever inference worker serves this camera now."""
        worker = self.worker
        if worker is not None:
            worker.notify()

    _KEEP = object()

    def _set_errors(self, *, inference: object = _KEEP, stage: object = _KEEP) -> None:
        """Report the camera's error only when it changes (not once per frame)."""
        with self._lock:
            if inference is not self._KEEP:
                self._inference_error = inference  # type: ignore[assignment]
            if stage is not self._KEEP:
                self._stage_error = stage  # type: ignore[assignment]
            current = self.error
            if current == self._reported:
                return
            self._reported = current
        self._on_error(self.camera_id, current)
