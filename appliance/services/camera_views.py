"""The small value types of the camera service: timing, limits and what a view shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from appliance.config import CameraConfig
from appliance.errors import NotFoundError
from appliance.pipeline.camera import Backoff, CameraWorker, CaptureStatus
from appliance.pipeline.scheduler import CameraFeed, InferenceWorker


@dataclass(frozen=True)
class CaptureTiming:
    stall_after_s: float = 3.0
    reconnect_after_s: float = 5.0
    backoff: Backoff = field(default_factory=Backoff)


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


class CameraNotFoundError(NotFoundError):
    code = "camera_not_found"


class Running:
    """The live parts of one started camera."""

    def __init__(self, worker: CameraWorker, feed: CameraFeed, inference: InferenceWorker):
        self.worker, self.feed, self.inference = worker, feed, inference
