"""Calibration frames for INT8 builds, sampled from the cameras that use the model: the
frames it will see in service, not a stock dataset."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from appliance.models.builds import FrameSupplier
from appliance.pipeline.runtime import Pipeline, UnknownCameraError

SAMPLE_EVERY_S = 0.1  # at most this often per camera: consecutive frames add little
COLLECT_FOR_S = 60.0  # then build with what came (the demo scene's photos make up the rest)


class CalibrationFrames:
    def __init__(
        self,
        pipeline: Pipeline,
        *,
        every_s: float = SAMPLE_EVERY_S,
        within_s: float = COLLECT_FOR_S,
    ) -> None:
        self._pipeline = pipeline
        self._every_s = every_s
        self._within_s = within_s

    def supplier(self, model: str) -> FrameSupplier | None:
        """What gathers frames for `model`'s build, or None when no camera uses it now."""
        cameras = sorted(self._pipeline.cameras_on(model))
        if not cameras:
            return None
        return lambda count, cancelled: self.collect(cameras, count, cancelled)

    def collect(
        self, cameras: Sequence[str], count: int, cancelled: Callable[[], bool]
    ) -> Iterator[np.ndarray]:
        """Up to `count` distinct frames as they come, taken in turn from `cameras` (blocking:
        the build thread iterates). A camera that goes away or stops sending gives no more."""
        taken = 0
        last: dict[str, int] = {}
        deadline = time.monotonic() + self._within_s
        while taken < count and time.monotonic() < deadline and not cancelled():
            for camera in cameras:
                try:
                    frame = self._pipeline.latest_frame(camera)
                except UnknownCameraError:
                    continue
                if frame is not None and frame.frame_id != last.get(camera) and taken < count:
                    last[camera] = frame.frame_id
                    taken += 1
                    yield frame.pixels
            time.sleep(self._every_s)
