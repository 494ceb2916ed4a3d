"""Frozen response and message bodies of the public API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from appliance.domain import Detection, DetectionResult
from appliance.services.camera_views import GateView
from appliance.services.live import LiveFrame


class Schema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ErrorDetail(Schema):
    code: str = Field(description="Stable machine-readable code, e.g. invalid_image.")
    message: str
    request_id: str | None = None
    details: list[dict[str, object]] | None = Field(None, description="Validation problems.")


class ErrorBody(Schema):
    error: ErrorDetail


class Box(Schema):
    x1: float
    y1: float
    x2: float
    y2: float


class DetectionOut(Schema):
    label: str
    class_id: int
    confidence: float
    box: Box = Field(description="Corners in the original image's pixels.")


class TrackedDetectionOut(DetectionOut):
    """A detection in a camera's frame: with its track's id while the camera tracks."""

    track_id: int | None = Field(
        None, description="The tracked object's id, unique per camera while the service runs."
    )


def _detection_out(d: Detection) -> DetectionOut:
    box = Box(x1=d.x1, y1=d.y1, x2=d.x2, y2=d.y2)
    return DetectionOut(label=d.label, class_id=d.class_id, confidence=d.confidence, box=box)


def _tracked_out(d: Detection) -> TrackedDetectionOut:
    box = Box(x1=d.x1, y1=d.y1, x2=d.x2, y2=d.y2)
    return TrackedDetectionOut(
        label=d.label, class_id=d.class_id, confidence=d.confidence, box=box, track_id=d.track_id
    )


class ModelOut(Schema):
    name: str
    version: str


class ImageSize(Schema):
    width: int
    height: int


class Timings(Schema):
    decode_ms: float
    preprocess_ms: float
    infer_ms: float
    postprocess_ms: float
    total_ms: float


class DetectResponse(Schema):
    model: ModelOut
    image: ImageSize
    detections: list[DetectionOut]
    timings: Timings

    @classmethod
    def of(cls, result: DetectionResult) -> DetectResponse:
        t = result.timings
        return cls(
            model=ModelOut(name=result.model.name, version=result.model.version),
            image=ImageSize(width=result.width, height=result.height),
            detections=[_detection_out(d) for d in result.detections],
            timings=Timings(
                decode_ms=t.decode_ms,
                preprocess_ms=t.preprocess_ms,
                infer_ms=t.infer_ms,
                postprocess_ms=t.postprocess_ms,
                total_ms=round(t.total_ms, 3),
            ),
        )


class BatchResponse(Schema):
    results: list[DetectResponse]


class StreamResult(DetectResponse):
    """A WebSocket answer: the result for the client's frame number `seq`."""

    seq: int = Field(description="Number of the frame this answers, counted from 1.")
    dropped: int = Field(description="Frames skipped so far because newer ones arrived.")


class StreamError(ErrorBody):
    seq: int
    dropped: int


class Health(Schema):
    status: str


class LoadedModelOut(Schema):
    name: str
    version: str
    backend: str
    device: str
    precision: str | None = None
    input_size: tuple[int, int]
    labels: int
    warmup_ms: float


class Readiness(Schema):
    status: str
    models: list[LoadedModelOut]


class Percentiles(Schema):
    p50: float
    p95: float


class MotionStatusOut(Schema):
    """The motion gate over the last minute (absent while it is off)."""

    inferred_share: float | None = Field(
        description="Share of the frames delivered that were inferred (the rest carried)."
    )
    motion_events_per_min: float = Field(description="Times motion began, per minute.")
    moving: bool = Field(description="The newest frame moves.")
    frames_inferred: int = Field(description="Since the camera was added.")
    frames_carried: int
    motion_events: int

    @classmethod
    def of(cls, gate: GateView) -> MotionStatusOut:
        return cls(
            inferred_share=gate.inferred_share,
            motion_events_per_min=gate.motion_events_per_min,
            moving=gate.moving,
            frames_inferred=gate.inferred_total,
            frames_carried=gate.carried_total,
            motion_events=gate.motion_events_total,
        )


class CameraStatusOut(Schema):
    state: str = Field(description="starting, streaming, stalled, reconnecting, stopped, failed")
    fps_in: float = Field(description="Frames captured per second.")
    fps_out: float = Field(
        description="Frames delivered per second: inferred, or carried by the motion gate."
    )
    frame_age_s: float | None = Field(description="Seconds since the newest captured frame.")
    frames: int
    reconnects: int
    last_error: str | None
    inference_error: str | None
    viewers: int
    jpeg_encodes: int = Field(description="JPEG encodes so far: one per frame and variant.")
    stages: dict[str, Percentiles] = Field(description="Per-stage latency (ms), recent frames.")
    motion: MotionStatusOut | None = Field(
        None, description="The motion gate's work, while it is on."
    )


class FrameMessage(Schema):
    """One processed camera frame, as sent on WS /v1/cameras/{id}/ws."""

    camera: str
    frame_id: int
    captured_at: float = Field(description="Unix time the frame was captured.")
    model: ModelOut
    image: ImageSize
    detections: list[TrackedDetectionOut]
    timings: dict[str, float] = Field(description="Stage latencies of this frame in ms.")
    carried: bool = Field(
        False,
        description="Not inferred (the motion gate skipped it): the detections are the last "
        "inferred frame's, carried forward.",
    )
    motion: list[tuple[float, float, float, float]] | None = Field(
        None,
        description="Regions that moved, [x1, y1, x2, y2] normalised 0..1; null while the "
        "camera's motion gate is off.",
    )

    @classmethod
    def of(cls, frame: LiveFrame) -> FrameMessage:
        result = frame.result
        return cls(
            camera=frame.camera_id,
            frame_id=frame.frame_id,
            captured_at=round(frame.captured_at, 4),
            model=ModelOut(name=result.model.name, version=result.model.version),
            image=ImageSize(width=result.width, height=result.height),
            detections=[_tracked_out(d) for d in result.detections],
            timings=frame.stages_ms,
            carried=frame.carried,
            motion=None if frame.motion is None else list(frame.motion),
        )
