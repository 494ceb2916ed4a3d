"""The motion gate: which of a camera's frames the detector gets.

Motion is found on the capture thread (`MotionProbe`, a millisecond a frame, in parallel
with inference) and travels with the frame. The camera's inference worker then asks
`GatePlan.due`: a frame that moves is inferred at once; while objects the detector found
stand in view, one frame every 1/`tracked_fps` s (a parked car keeps its box); otherwise one
every 1/`idle_fps` s, so an object that appears without motion (after a lighting change) is
still found. The frames in between are not lost: they are carried (see
CameraRuntime.carry).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from appliance.analytics.motion import MotionDetector, MotionSettings
from appliance.domain import Frame, Motion

WINDOW_S = 60.0  # telemetry: shares and rates over the last minute
STUCK_S = 5.0  # an inferred frame this late is no longer waited for before carrying
IN_VIEW_S = 2.0  # objects found this recently count as in view (the tracked rate goes on)


@dataclass(frozen=True, slots=True)
class GatePlan:
    idle_fps: float = 0.2
    tracked_fps: float = 2.0
    settings: MotionSettings = field(default_factory=MotionSettings)


@dataclass
class GateState:
    """What the gate remembers of one camera: written by its inference worker only."""

    last_inferred: float = float("-inf")  # monotonic time the last frame went to inference
    seen: float = float("-inf")  # when an inferred frame last had detections (after stages)
    pending_id: int = 0  # frame id of the last frame sent to inference
    pending_since: float = 0.0
    done_id: int = 0  # frame id of the last inferred frame delivered (or failed)

    def inferring(self, now: float) -> bool:
        """An inferred frame is on its way: carried frames wait for it, or they would
        reach viewers first and the inferred one would arrive out of order (and be dropped)."""
        return self.pending_id > self.done_id and now - self.pending_since < STUCK_S

    def sent(self, frame: Frame, now: float) -> None:
        self.last_inferred = self.pending_since = now
        self.pending_id = frame.frame_id

    def finished(self, frame_id: int, found: bool, now: float | None = None) -> None:
        """An inferred frame was delivered (or failed: `found` False)."""
        self.done_id = max(self.done_id, frame_id)
        if found:
            self.seen = time.monotonic() if now is None else now

    def in_view(self, now: float) -> bool:
        """Objects were found within IN_VIEW_S: one the detector missed for a frame or two
        (or one that just left) is still looked for at the tracked rate, so its track and
        its event go on (or end) as with every frame inferred."""
        return now - self.seen < IN_VIEW_S


def due(plan: GatePlan, state: GateState, motion: Motion | None, now: float) -> bool:
    """Whether this frame goes to the detector."""
    if motion is None or motion.moving:
        return True  # (None: motion was not looked at, e.g. the gate was just turned on)
    rate = plan.tracked_fps if state.in_view(now) else plan.idle_fps
    return now - state.last_inferred >= 1.0 / rate


class GateStats:
    """Per camera, over the last minute: frames inferred and carried, motion events (a
    motion event: frames moving after frames that did not). Thread-safe."""

    def __init__(self, window_s: float = WINDOW_S) -> None:
        self._window = window_s
        self._lock = threading.Lock()
        self._frames: deque[tuple[float, bool]] = deque()  # (time, inferred)
        self._motion_starts: deque[float] = deque()
        self._moving = False
        self.inferred_total = 0
        self.carried_total = 0
        self.motion_events_total = 0

    def frame(self, inferred: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._frames.append((now, inferred))
            if inferred:
                self.inferred_total += 1
            else:
                self.carried_total += 1
            self._trim(now)

    def motion(self, moving: bool, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if moving and not self._moving:
                self._motion_starts.append(now)
                self.motion_events_total += 1
            self._moving = moving
            self._trim(now)

    def summary(self, now: float | None = None) -> tuple[float | None, float, bool]:
        """(share of frames inferred or None before any frame, motion events per minute,
        moving now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._trim(now)
            frames = len(self._frames)
            inferred = sum(1 for _, was in self._frames if was)
            share = round(inferred / frames, 3) if frames else None
            per_minute = round(len(self._motion_starts) * 60.0 / self._window, 2)
            return share, per_minute, self._moving

    def _trim(self, now: float) -> None:
        while self._frames and now - self._frames[0][0] > self._window:
            self._frames.popleft()
        while self._motion_starts and now - self._motion_starts[0] > self._window:
            self._motion_starts.popleft()


class MotionProbe:
    """Finds motion in each captured frame, on the capture thread. `settings` is swapped
    whole by a retune (None: the gate is off, no motion is looked for); the detector is
    rebuilt on the next frame when they change."""

    def __init__(self, stats: GateStats) -> None:
        self.settings: MotionSettings | None = None
        self._stats = stats
        self._detector: MotionDetector | None = None

    def __call__(self, pixels: np.ndarray, now_mono: float) -> Motion | None:
        settings = self.settings
        if settings is None:
            self._detector = None
            return None
        if self._detector is None or self._detector.settings != settings:
            self._detector = MotionDetector(settings)
        motion = self._detector.detect(pixels, now_mono)
        self._stats.motion(motion.moving, now_mono)
        return motion

    def reset(self) -> None:
        """A new capture (restart): the old background says nothing about the new picture."""
        self._detector = None
