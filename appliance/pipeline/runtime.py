"""The Pipeline: the one owner of every camera's topology.

Per camera it holds a CameraRuntime (capture worker, feed, stages, broadcaster), and per
loaded engine one InferenceWorker, shared by that engine's cameras and its detect requests.
Every operation (add, remove, start, stop, retune, route, retire) takes the pipeline's lock
for its whole change, so no thread ever sees a half-wired camera; blocking waits (a capture
thread ending, an engine draining) happen after the lock is released.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass

import numpy as np

from appliance.domain import DetectionResult, DetectParams, Frame
from appliance.errors import ConflictError, ModelClosedError, NotFoundError
from appliance.models.detector import DecodedImage, Detector
from appliance.pipeline.broadcast import Broadcaster
from appliance.pipeline.camera import CameraWorker, CaptureStatus, CaptureTiming, StateListener
from appliance.pipeline.camera_runtime import CameraPlan, CameraRuntime, ErrorListener
from appliance.pipeline.feeds import CameraFeed
from appliance.pipeline.scheduler import InferenceWorker
from appliance.pipeline.viewers import Variant, Watch
from appliance.sources import FrameSource

SourceOpener = Callable[[], FrameSource]


class UnknownCameraError(NotFoundError):
    code = "camera_not_found"


@dataclass(frozen=True)
class RuntimeStatus:
    """How one camera's pipeline is doing right now."""

    capture: CaptureStatus
    running: bool
    fps_out: float
    viewers: int
    jpeg_encodes: int
    stages: dict[str, dict[str, float]]
    error: str | None
    model: str | None  # the name of the model serving it while it runs
    gate: GateSummary | None = None  # None: the motion gate is off


@dataclass(frozen=True)
class GateSummary:
    """The motion gate of one camera over the last minute."""

    inferred_share: float | None  # of the frames delivered, the share inferred
    motion_events_per_min: float
    moving: bool
    inferred_total: int
    carried_total: int
    motion_events_total: int


class Pipeline:
    def __init__(
        self,
        *,
        timing: CaptureTiming | None = None,
        max_viewers: int | None = None,
        max_batch: int = 4,
        on_stages: Callable[[str, dict[str, float]], None] | None = None,
        on_state: StateListener | None = None,
        on_error: ErrorListener | None = None,
    ) -> None:
        self._timing = timing or CaptureTiming()
        self._max_viewers = max_viewers
        self._max_batch = max_batch
        self._on_stages = on_stages
        self._on_state = on_state
        self._on_error = on_error or (lambda camera, message: None)
        self._cameras: dict[str, CameraRuntime] = {}
        self._workers: dict[Detector, InferenceWorker] = {}
        self._retired: weakref.WeakSet[Detector] = weakref.WeakSet()
        self._lock = threading.RLock()

    @property
    def max_batch(self) -> int:
        """Most images an inference worker runs at once (engines with a dynamic batch)."""
        return self._max_batch

    # --- topology ------------------------------------------------------------------------

    def add(self, camera_id: str) -> None:
        """A configured camera, not running yet: viewers may already wait for it."""
        with self._lock:
            if camera_id in self._cameras:
                raise ConflictError(f"camera {camera_id!r} is already in the pipeline")
            broadcaster = Broadcaster(
                camera_id, on_stages=self._on_stages, max_viewers=self._max_viewers
            )
            self._cameras[camera_id] = CameraRuntime(camera_id, broadcaster, self._on_error)

    def remove(self, camera_id: str) -> None:
        """Stop the camera and end its streams (blocking: call from a thread)."""
        with self._runtime_of(camera_id).changing:
            self._stop(camera_id)
            with self._lock:
                runtime = self._cameras.pop(camera_id, None)
        if runtime is not None:
            runtime.broadcaster.close()
            runtime.broadcaster.join()

    def start(
        self,
        camera_id: str,
        open_source: SourceOpener,
        detector: Detector,
        plan: CameraPlan,
        *,
        lossless: bool = False,
    ) -> None:
        """Start capturing and join `detector`'s inference worker (restarts a running
        camera; blocking: call from a thread). `lossless`: capture waits for each frame to
        be taken (a file read as fast as inference goes, in benchmarks)."""
        runtime = self._runtime_of(camera_id)
        with runtime.changing:  # the old capture ends (a device is free) before the new opens
            self._stop(camera_id)
            self._start(runtime, open_source, detector, plan, lossless)

    def _start(
        self,
        runtime: CameraRuntime,
        open_source: SourceOpener,
        detector: Detector,
        plan: CameraPlan,
        lossless: bool,
    ) -> None:
        camera_id = runtime.camera_id
        with self._lock:
            self._runtime(camera_id)  # still there
            capture = CameraWorker(
                camera_id,
                open_source,
                stall_after_s=self._timing.stall_after_s,
                backoff=self._timing.backoff,
                on_state=self._on_state,
                on_frame=runtime.notify,
                lossless=lossless,
                first_frame_id=runtime.next_frame_id,
                motion=runtime.motion,
            )
            worker = self._worker_for(detector)
            runtime.clear_errors()
            runtime.feed = CameraFeed(
                camera_id,
                capture.frames,
                runtime.deliver,
                plan.feed,
                carry=runtime.carry,
                wake=runtime.notify,
            )
            runtime.apply(plan)
            runtime.capture, runtime.worker = capture, worker
            worker.add(runtime.feed)
            capture.start()

    def stop(self, camera_id: str) -> None:
        """Stop capturing (the broadcaster stays; blocking: call from a thread)."""
        with self._runtime_of(camera_id).changing:
            self._stop(camera_id)

    def _stop(self, camera_id: str) -> None:
        with self._lock:
            runtime = self._runtime(camera_id)
            capture, worker = runtime.capture, runtime.worker
            runtime.capture = runtime.feed = runtime.worker = None
            if worker is not None:
                worker.remove(camera_id)
        if capture is not None:
            capture.stop()
            runtime.next_frame_id = capture.next_frame_id  # ids go on rising after a restart

    def retune(self, camera_id: str, plan: CameraPlan) -> None:
        """New inference parameters, fps limit or stages, from the next frame on."""
        with self._lock:
            self._runtime(camera_id).apply(plan)

    def route(self, moves: dict[str, tuple[Detector, CameraPlan]]) -> list[str]:
        """Move running cameras to other detectors' workers between two frames, all in one
        step; capture goes on untouched. Returns the cameras that were running."""
        moved = []
        with self._lock:
            for camera_id in moves:
                self._runtime(camera_id)
            for camera_id, (detector, plan) in moves.items():
                runtime = self._cameras[camera_id]
                runtime.apply(plan)
                if runtime.feed is None or runtime.worker is None:
                    continue
                worker = self._worker_for(detector)
                if worker is not runtime.worker:
                    runtime.worker.remove(camera_id)
                    runtime.worker = worker
                    worker.add(runtime.feed)
                moved.append(camera_id)
        return moved

    def retire(self, detector: Detector) -> list[str]:
        """`detector` serves nothing any more: its worker takes no new work, answers what it
        has, then ends (blocking). Returns the cameras still on it (they stop getting frames
        processed: route them first)."""
        with self._lock:
            self._retired.add(detector)
            worker = self._workers.pop(detector, None)
            if worker is None:
                return []
            worker.retire()
            stranded = worker.cameras
        worker.stop()
        return stranded

    # --- detect requests -----------------------------------------------------------------

    def detect(
        self, detector: Detector, images: list[DecodedImage], params: DetectParams
    ) -> Future[list[DetectionResult]]:
        """Queue images on `detector`'s worker, batched with its cameras' frames where the
        engine takes a dynamic batch (ModelClosedError once the detector is retired)."""
        with self._lock:
            return self._worker_for(detector).submit(images, params)

    def infer_tensor(self, detector: Detector, tensor: np.ndarray) -> Future[list[np.ndarray]]:
        """Run `detector`'s engine on a raw tensor, on the one thread that calls it."""
        with self._lock:
            return self._worker_for(detector).submit_tensor(tensor)

    # --- viewers and status --------------------------------------------------------------

    def watch(self, camera_id: str, variant: Variant | None, fps: float | None = None) -> Watch:
        with self._lock:
            broadcaster = self._runtime(camera_id).broadcaster
        return broadcaster.watch(variant, fps)

    def status(self, camera_id: str) -> RuntimeStatus:
        with self._lock:
            runtime = self._runtime(camera_id)
            capture, worker = runtime.capture, runtime.worker
        broadcaster = runtime.broadcaster
        running = capture is not None
        return RuntimeStatus(
            capture=capture.status() if capture is not None else CaptureStatus.stopped(),
            running=running,
            fps_out=broadcaster.fps_out.rate() if running else 0.0,
            viewers=broadcaster.viewers,
            jpeg_encodes=broadcaster.encodes,
            stages=broadcaster.stages.summary(),
            error=runtime.error,
            model=worker.detector.ref.name if worker is not None else None,
            gate=_gate_summary(runtime) if runtime.motion.settings is not None else None,
        )

    def latest_frame(self, camera_id: str) -> Frame | None:
        """The newest frame of the camera that went through its pipeline (None before
        the first): what a sampler of real frames reads, without becoming a viewer."""
        with self._lock:
            broadcaster = self._runtime(camera_id).broadcaster
        processed = broadcaster.processed.peek()[1]
        return processed.frame if processed is not None else None

    def cameras_on(self, name: str) -> set[str]:
        """Running cameras whose frames a detector named `name` infers."""
        with self._lock:
            return {
                camera_id
                for camera_id, runtime in self._cameras.items()
                if runtime.worker is not None and runtime.worker.detector.ref.name == name
            }

    def check_stalls(self) -> None:
        """Capture threads blocked in read() cannot see their own stalls: look for them."""
        with self._lock:
            captures = [r.capture for r in self._cameras.values() if r.capture is not None]
        for capture in captures:
            capture.check_stall()

    def hung_workers(self, limit_s: float) -> list[str]:
        """Capture and inference threads that made no progress for `limit_s`."""
        now = time.monotonic()
        with self._lock:
            captures = [(i, r.capture) for i, r in self._cameras.items() if r.capture]
            workers = list(self._workers.values())
        hung = [f"camera {camera_id}" for camera_id, c in captures if c.hung(limit_s)]
        hung += [f"inference {w.detector.ref.name}" for w in workers if now - w.heartbeat > limit_s]
        return hung

    def end_streams(self) -> None:
        """Shutdown began: end every open stream now so it does not hold the server up."""
        with self._lock:
            broadcasters = [r.broadcaster for r in self._cameras.values()]
        for broadcaster in broadcasters:
            broadcaster.close()

    def close(self) -> None:
        """Stop every camera and worker (blocking)."""
        with self._lock:
            ids = list(self._cameras)
        for camera_id in ids:
            with suppress(UnknownCameraError):  # removed meanwhile
                self.stop(camera_id)
        with self._lock:
            workers = list(self._workers.values())
            self._workers.clear()
        for worker in workers:
            worker.stop()
        self.end_streams()
        with self._lock:
            broadcasters = [r.broadcaster for r in self._cameras.values()]
        for broadcaster in broadcasters:
            broadcaster.join()

    # --- internals -----------------------------------------------------------------------

    def _runtime_of(self, camera_id: str) -> CameraRuntime:
        with self._lock:
            return self._runtime(camera_id)

    def _runtime(self, camera_id: str) -> CameraRuntime:
        runtime = self._cameras.get(camera_id)
        if runtime is None:
            raise UnknownCameraError(f"no camera with id {camera_id!r}")
        return runtime

    def _worker_for(self, detector: Detector) -> InferenceWorker:
        worker = self._workers.get(detector)
        if worker is None:
            if detector in self._retired:
                raise ModelClosedError(
                    f"model {detector.ref.name} {detector.ref.version} was replaced"
                )
            worker = InferenceWorker(
                detector, max_batch=self._max_batch, on_error=self._inference_failed
            )
            worker.start()
            self._workers[detector] = worker
        return worker

    def _inference_failed(self, camera_id: str, message: str | None) -> None:
        runtime = self._cameras.get(camera_id)
        if runtime is not None:
            runtime.inference_failed(message)


def _gate_summary(runtime: CameraRuntime) -> GateSummary:
    stats = runtime.gate_stats
    share, per_minute, moving = stats.summary()
    return GateSummary(
        share,
        per_minute,
        moving,
        stats.inferred_total,
        stats.carried_total,
        stats.motion_events_total,
    )
