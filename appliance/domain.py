"""Frozen values shared by every layer: detections, results and detection parameters."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Detection:
    """One object found in an image, in that image's pixel coordinates."""

    label: str
    class_id: int
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float
    track_id: int | None = None  # set by a camera's tracker; unique per camera while it runs


@dataclass(frozen=True, slots=True)
class StageTimings:
    """Milliseconds spent in each stage of one detection."""

    decode_ms: float = 0.0
    preprocess_ms: float = 0.0
    infer_ms: float = 0.0
    postprocess_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.decode_ms + self.preprocess_ms + self.infer_ms + self.postprocess_ms


@dataclass(frozen=True, slots=True)
class ModelRef:
    name: str
    version: str


@dataclass(frozen=True, slots=True)
class DetectionResult:
    """Everything one image produced."""

    model: ModelRef
    width: int
    height: int
    detections: tuple[Detection, ...]
    timings: StageTimings


@dataclass(frozen=True, slots=True)
class DetectParams:
    """What the caller asks of one detection. `classes` holds class ids, or None for all."""

    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    classes: frozenset[int] | None = field(default=None)


Region = tuple[float, float, float, float]  # x1, y1, x2, y2, normalised 0..1 of the frame


@dataclass(frozen=True, slots=True)
class Motion:
    """What moved in one frame, as the camera's motion detector saw it: the boxes around
    changed pixels and the share of the (unmasked) frame that changed. `lighting`: so much
    changed at once that it was taken for a lighting change, not motion."""

    regions: tuple[Region, ...] = ()
    changed: float = 0.0
    lighting: bool = False

    @property
    def moving(self) -> bool:
        return bool(self.regions)


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """One captured picture. `captured_at` is wall-clock (for clients), `captured_mono` is
    the monotonic clock (for latencies). `motion`: None when the camera does not look for
    motion."""

    camera_id: str
    frame_id: int
    captured_at: float
    captured_mono: float
    pixels: np.ndarray
    motion: Motion | None = None


@dataclass(frozen=True, slots=True)
class LineOverlay:
    """A counting line as drawn on the annotated stream: normalised points, totals."""

    name: str
    points: tuple[tuple[float, float], tuple[float, float]]
    inward: int
    outward: int


@dataclass(frozen=True, slots=True)
class ZoneOverlay:
    """A zone as drawn on the annotated stream: normalised polygon, objects inside now."""

    name: str
    points: tuple[tuple[float, float], ...]
    occupied: int


@dataclass(frozen=True, slots=True)
class SceneChange:
    """Something a tracked object did on this frame: crossed a line (`kind` "line", with its
    direction) or entered, left or loitered in a zone ("zone.entered", …)."""

    kind: str
    name: str
    track_id: int
    label: str
    direction: str | None = None


@dataclass(frozen=True, slots=True)
class SceneOverlay:
    lines: tuple[LineOverlay, ...] = ()
    zones: tuple[ZoneOverlay, ...] = ()
    changes: tuple[SceneChange, ...] = ()  # what happened on this frame, for the event stage


@dataclass(frozen=True, slots=True, eq=False)
class ProcessedFrame:
    """A frame with what the model found in it, how long each stage took (ms) and, where
    the camera counts, its lines and zones as they stand after this frame."""

    frame: Frame
    result: DetectionResult
    stages_ms: dict[str, float]
    overlay: SceneOverlay | None = None
    # not inferred: the motion gate skipped it, and `result` is the last inferred frame's
    # (boxes carried forward), so viewers and clips still get every frame
    carried: bool = False


class CameraState(str, enum.Enum):
    STARTING = "starting"
    STREAMING = "streaming"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    FAILED = "failed"
