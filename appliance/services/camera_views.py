"""The small value types of the camera service: limits, what a view shows, and what the
cameras report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from appliance.analytics.motion import MotionSettings
from appliance.config import CameraConfig, MotionConfig
from appliance.domain import CameraState
from appliance.errors import NotFoundError
from appliance.pipeline.camera import CaptureStatus
from appliance.pipeline.motion_gate import GatePlan
from appliance.pipeline.runtime import GateSummary
from appliance.services.events import EventBus

GateView = GateSummary  # the motion gate's last minute, as a plain value


@dataclass(frozen=True)
class CameraLimits:
    """What the user may configure: how many cameras, how many viewers each, and which
    folders file:// sources may read (None: any file, for tests and embedding only)."""

    max_cameras: int = 16
    max_viewers: int | None = 8
    media_roots: tuple[Path, ...] | None = None


@dataclass(frozen=True)
class CameraView:
    """A camera's configuration and how it is doing right now."""

    config: CameraConfig
    capture: CaptureStatus
    fps_out: float
    viewers: int
    jpeg_encodes: int
    stages: dict[str, dict[str, float]]
    inference_error: str | None
    gate: GateView | None = None  # None: the motion gate is off


class CameraNotFoundError(NotFoundError):
    code = "camera_not_found"


class CameraReporter:
    """Tells the log and WS /v1/events what the pipeline's cameras go through."""

    def __init__(self, events: EventBus) -> None:
        self._events = events

    def state_changed(self, camera_id: str, state: CameraState, reason: str | None) -> None:
        self._events.publish("camera.state", camera=camera_id, state=state.value, reason=reason)

    def error_changed(self, camera_id: str, message: str | None) -> None:
        """Why the camera's frames fail now (inference or a stage), or None once they pass
        again; the pipeline calls this on changes only."""
        if message is None:
            logger.info("camera {}: frames are processed again", camera_id)
            self._events.publish("camera.recovered", camera=camera_id)
        else:
            logger.error("camera {}: processing failed: {}", camera_id, message)
            self._events.publish("camera.error", camera=camera_id, error=message)


def gate_plan(motion: MotionConfig) -> GatePlan | None:
    """The motion gate a camera's config asks for (None: every frame is inferred)."""
    if not motion.enabled:
        return None
    masks = tuple(tuple((x, y) for x, y in mask.points) for mask in motion.masks)
    settings = MotionSettings(motion.threshold, motion.min_area, masks)
    return GatePlan(motion.idle_fps, motion.tracked_fps, settings)
