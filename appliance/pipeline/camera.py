"""A supervised capture worker: one thread per camera, explicit states, reconnect forever."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from loguru import logger

from appliance.domain import CameraState, Frame, Motion
from appliance.errors import InvalidInputError, SourceError
from appliance.pipeline.latest import LatestSlot
from appliance.pipeline.motion_gate import MotionProbe
from appliance.pipeline.stats import RateMeter
from appliance.sources import FrameSource

S = CameraState
ALLOWED: dict[CameraState, frozenset[CameraState]] = {
    S.STOPPED: frozenset({S.STARTING}),
    S.STARTING: frozenset({S.STREAMING, S.RECONNECTING, S.FAILED, S.STOPPED}),
    S.STREAMING: frozenset({S.STALLED, S.RECONNECTING, S.STOPPED}),
    S.STALLED: frozenset({S.STREAMING, S.RECONNECTING, S.STOPPED}),
    S.RECONNECTING: frozenset({S.STARTING, S.STOPPED, S.FAILED}),
    S.FAILED: frozenset({S.STARTING, S.STOPPED}),
}

StateListener = Callable[[str, CameraState, str | None], None]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, so many cameras of one dead NVR don't retry in step."""

    initial_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2

    def delay(self, attempt: int) -> float:
        base = min(self.max_s, self.initial_s * self.factor**attempt)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True)
class CaptureTiming:
    """When a silent camera counts as stalled, and when its source is reopened."""

    stall_after_s: float = 3.0
    reconnect_after_s: float = 5.0
    backoff: Backoff = field(default_factory=Backoff)


@dataclass(frozen=True)
class CaptureStatus:
    state: CameraState
    fps_in: float
    frame_age_s: float | None
    frames: int
    reconnects: int
    last_error: str | None

    @classmethod
    def stopped(cls) -> CaptureStatus:
        return cls(CameraState.STOPPED, 0.0, None, 0, 0, None)


class CameraWorker:
    """Owns the capture thread of one camera. Source errors never end the thread: it
    reconnects with backoff until stopped. Only a URI that can never work ends in FAILED."""

    def __init__(
        self,
        camera_id: str,
        open_source: Callable[[], FrameSource],
        *,
        stall_after_s: float = 3.0,
        backoff: Backoff | None = None,
        on_state: StateListener | None = None,
        on_frame: Callable[[], None] | None = None,
        lossless: bool = False,
        first_frame_id: int = 1,
        motion: MotionProbe | None = None,
    ) -> None:
        """`lossless`: wait for each frame to be taken before reading the next, for sources
        read as fast as possible (benchmarks), instead of dropping what inference missed.
        `motion`: looks for motion in each frame, here, in parallel with inference."""
        self.camera_id = camera_id
        self.frames: LatestSlot[Frame] = LatestSlot()
        self._open_source = open_source
        self._stall_after_s = stall_after_s
        self._backoff = backoff or Backoff()
        self._on_state = on_state
        self._on_frame = on_frame
        self._lossless = lossless
        self._motion = motion
        self._motion_failed = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._state = CameraState.STOPPED
        self._rate = RateMeter()
        self._frames = 0
        self._first_id = first_frame_id  # a restarted camera goes on counting
        self._reconnects = 0
        self._last_error: str | None = None
        self._last_frame_mono: float | None = None
        self.heartbeat = time.monotonic()  # last sign of life of the capture loop

    @property
    def state(self) -> CameraState:
        return self._state

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"camera-{self.camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the thread to end and wait; a read in progress ends within its timeout."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    @property
    def next_frame_id(self) -> int:
        """The id the next frame would get: where a camera restarted after this one begins."""
        return self._first_id + self._frames

    def status(self) -> CaptureStatus:
        now = time.monotonic()
        last = self._last_frame_mono
        return CaptureStatus(
            state=self._state,
            fps_in=self._rate.rate(now),
            frame_age_s=None if last is None else round(now - last, 3),
            frames=self._frames,
            reconnects=self._reconnects,
            last_error=self._last_error,
        )

    def hung(self, limit_s: float) -> bool:
        """Stuck beyond any timeout of ours (a read or open that never returns); a worker
        waiting out its reconnect backoff is not hung."""
        busy = self._state in (S.STARTING, S.STREAMING, S.STALLED)
        alive = self._thread is not None and self._thread.is_alive()
        return alive and busy and time.monotonic() - self.heartbeat > limit_s

    def check_stall(self) -> None:
        """Called periodically from outside: a worker blocked in read() cannot notice itself."""
        last = self._last_frame_mono
        if self._state is S.STREAMING and last and time.monotonic() - last > self._stall_after_s:
            self._transition(S.STALLED, f"no frame for {self._stall_after_s:.1f} s")

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()
            self._transition(S.STARTING)
            try:
                attempt = self._capture(attempt)
            except InvalidInputError as exc:
                self._transition(S.FAILED, exc.message)
                return
            except SourceError as exc:
                self._last_error = exc.message
            except Exception as exc:  # a bug in a source must not end supervision
                logger.opt(exception=exc).error("camera {} capture crashed", self.camera_id)
                self._last_error = f"{type(exc).__name__}: {exc}"
            if self._stop.is_set():
                break
            self._reconnects += 1
            self._transition(S.RECONNECTING, self._last_error)
            if self._stop.wait(self._backoff.delay(attempt)):
                break
            attempt += 1
        self._transition(S.STOPPED)

    def _capture(self, attempt: int) -> int:
        """Open the source and publish frames until stopped or the source fails."""
        source = self._open_source()
        if self._motion is not None:
            self._motion.reset()
        try:
            source.open()
            while not self._stop.is_set():
                self._publish(source.read())
                attempt = 0
                if self._state is not S.STREAMING:
                    self._transition(S.STREAMING)
        finally:
            source.close()
        return attempt

    def _publish(self, pixels: np.ndarray) -> None:
        now_mono = self.heartbeat = time.monotonic()
        self._frames += 1
        frame_id = self._first_id + self._frames - 1
        motion = self._look_for_motion(pixels, now_mono)
        frame = Frame(self.camera_id, frame_id, time.time(), now_mono, pixels, motion)
        version = self.frames.put(frame)
        self._last_frame_mono = now_mono
        self._rate.tick(now_mono)
        if self._on_frame is not None:
            self._on_frame()
        while self._lossless and not self._stop.is_set():
            if self.frames.wait_taken(version, timeout=0.5):
                break

    def _look_for_motion(self, pixels: np.ndarray, now_mono: float) -> Motion | None:
        """None (the frame is inferred) when there is no probe, or when it fails: a bug in
        motion detection costs CPU, never frames."""
        if self._motion is None:
            return None
        try:
            return self._motion(pixels, now_mono)
        except Exception as exc:
            if not self._motion_failed:
                self._motion_failed = True
                logger.opt(exception=exc).error(
                    "camera {}: motion detection failed", self.camera_id
                )
            return None

    def _transition(self, new: CameraState, reason: str | None = None) -> None:
        with self._lock:
            old = self._state
            if new is old:
                return
            if new not in ALLOWED[old]:
                logger.warning("camera {}: ignored transition {} -> {}", self.camera_id, old, new)
                return
            self._state = new
        logger.info(
            "camera {}: {} -> {}{}",
            self.camera_id,
            old.value,
            new.value,
            f" ({reason})" if reason else "",
        )
        if self._on_state is not None:
            self._on_state(self.camera_id, new, reason)
