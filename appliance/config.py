"""Runtime configuration the user changes through the API (cameras), persisted atomically."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from appliance.analytics.geometry import is_simple_polygon
from appliance.durable import write_atomic
from appliance.errors import ApplianceError

SCHEMA_VERSION = 4  # 2: lines, zones, tracking and counts; 3: events; 4: motion
CAMERA_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"
SLUG = CAMERA_ID  # names of lines and zones, used in URLs
MAX_LINES = MAX_ZONES = 16
Coordinate = Annotated[float, Field(ge=0, le=1)]
Point = tuple[Coordinate, Coordinate]
Slug = Annotated[str, Field(pattern=SLUG)]


class LineConfig(BaseModel):
    """A counting line: two distinct points, normalised 0..1 of the frame (x right, y down).
    Crossing towards the side of the normal (dy, -dx) counts as `in`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    points: list[Point] = Field(min_length=2, max_length=2)
    classes: list[str] | None = Field(None, description="Labels or ids to count; all when empty.")

    @model_validator(mode="after")
    def _distinct(self) -> LineConfig:
        if self.points[0] == self.points[1]:
            raise ValueError("a line needs two distinct points")
        return self


class ZoneConfig(BaseModel):
    """An occupancy zone: a simple polygon of 3..32 normalised points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    points: list[Point] = Field(min_length=3, max_length=32)
    classes: list[str] | None = Field(None, description="Labels or ids to count; all when empty.")
    inertia: int = Field(
        3, ge=1, le=100, description="Frames an object must be inside (or out) to count."
    )
    loiter_s: float | None = Field(
        None, gt=0, le=86400, description="Seconds inside after which zone.loitering is raised."
    )

    @model_validator(mode="after")
    def _simple(self) -> ZoneConfig:
        if not is_simple_polygon([tuple(p) for p in self.points]):
            raise ValueError("a zone's polygon must not cross itself or repeat a point")
        return self


# maps by name: slugs only, closed in the schema too (other names never validate)
_CLOSED = {"additionalProperties": False}
Lines = Annotated[dict[Slug, LineConfig], Field(max_length=MAX_LINES, json_schema_extra=_CLOSED)]
Zones = Annotated[dict[Slug, ZoneConfig], Field(max_length=MAX_ZONES, json_schema_extra=_CLOSED)]


DEFAULT_EVENT_LABELS = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "bus",
    "truck",
    "bird",
    "cat",
    "dog",
)


class EventsConfig(BaseModel):
    """Which tracked objects become stored events, and what is kept of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Record events (needs tracking).")
    labels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EVENT_LABELS),
        max_length=100,
        description="Labels (or ids) that become events; ones the model lacks are skipped.",
    )
    min_score: float = Field(0.5, ge=0, le=1, description="Top score an object must reach.")
    min_frames: int = Field(
        3, ge=1, le=1000, description="Frames an object must be seen in (no one-frame events)."
    )
    clips: bool = Field(True, description="Record an MP4 clip of each event.")
    # clean by default, as an NVR records: drawing costs ~3 % of a core per 720p15 camera
    annotated_clips: bool = Field(False, description="Draw boxes, lines and zones on clips.")
    pre_s: float = Field(3.0, ge=0, le=10, description="Seconds of clip before the start.")
    post_s: float = Field(2.0, ge=0, le=30, description="Seconds of clip after the end.")
    retain_days: float = Field(10, gt=0, le=3650, description="Days an event is kept.")


MAX_MASKS = 16


class MaskConfig(BaseModel):
    """An area whose motion never counts (a timestamp overlay, a tree in the wind): a simple
    polygon of 3..32 normalised points."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    points: list[Point] = Field(min_length=3, max_length=32)

    @model_validator(mode="after")
    def _simple(self) -> MaskConfig:
        if not is_simple_polygon([tuple(p) for p in self.points]):
            raise ValueError("a mask's polygon must not cross itself or repeat a point")
        return self


class MotionConfig(BaseModel):
    """The motion gate: the detector runs on frames that move, on tracked objects at
    `tracked_fps`, and otherwise at `idle_fps`; frames it skips still reach viewers and
    clips, with the last boxes carried forward."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Infer only what moves (off: every frame).")
    threshold: int = Field(25, ge=1, le=255, description="Grey levels a pixel must change by.")
    min_area: float = Field(
        0.0005, ge=0, le=1, description="Share of the frame a moving region must cover."
    )
    idle_fps: float = Field(
        0.2, gt=0, le=120, description="Frames inferred per second while nothing moves."
    )
    tracked_fps: float = Field(
        2.0, gt=0, le=120, description="Frames inferred per second while objects stand in view."
    )
    masks: list[MaskConfig] = Field(
        default_factory=list, max_length=MAX_MASKS, description="Areas whose motion never counts."
    )


class CameraConfig(BaseModel):
    """One camera as the user configured it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=CAMERA_ID, description="Short stable id used in URLs.")
    name: str = Field(min_length=1, max_length=80)
    uri: str = Field(
        min_length=1, max_length=2048, description="usb://0, rtsp://…, file:///…, demo://"
    )
    enabled: bool = True
    model: str | None = Field(None, description="Model name; the default model when empty.")
    fps_limit: float | None = Field(
        None, gt=0, le=120, description="Most frames inferred per second."
    )
    conf: float = Field(0.25, ge=0, le=1)
    classes: list[str] | None = Field(None, description="Labels or ids to keep; all when empty.")
    width: int | None = Field(
        None, ge=16, le=7680, description="Capture width to ask the device for."
    )
    height: int | None = Field(None, ge=16, le=4320)
    capture_fps: float | None = Field(None, gt=0, le=240, description="Rate to ask the device for.")
    fourcc: str | None = Field(
        None, pattern=r"^[A-Z0-9]{4}$", description="Pixel format to ask a USB camera for: MJPG."
    )
    tracking: bool = Field(True, description="Give each object a track id across frames.")
    lines: Lines = Field(default_factory=dict)
    zones: Zones = Field(default_factory=dict)
    events: EventsConfig = Field(default_factory=EventsConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)

    @model_validator(mode="after")
    def _counting_needs_tracking(self) -> CameraConfig:
        if not self.tracking and (self.lines or self.zones):
            raise ValueError("lines and zones count tracked objects: keep tracking on")
        return self


class SceneCounts(BaseModel):
    """A camera's counts as last saved: per line {in, out}, per zone {entered}, by label."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lines: dict[str, dict[str, dict[str, int]]] = Field(default_factory=dict)
    zones: dict[str, dict[str, dict[str, int]]] = Field(default_factory=dict)


class RuntimeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    cameras: list[CameraConfig] = Field(default_factory=list)
    default_model: str | None = Field(None, description="Activated for everything; else --model.")
    counts: dict[str, SceneCounts] = Field(
        default_factory=dict, description="Line and zone counts by camera, a few seconds behind."
    )


class ConfigError(ApplianceError):
    code = "config_error"


class ConfigStore:
    """`config.json` in the data dir: written to a temp file, fsynced, renamed into place,
    so a process killed at any moment leaves the previous or the new file, never half of one."""

    TEMP_PREFIX = ".config-"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._swept = False
        self._lock = threading.Lock()  # one read-modify-write at a time (cameras, models)

    def load(self) -> RuntimeConfig | None:
        """The saved configuration, or None when there is none yet (first start)."""
        if not self._swept:
            self._swept = True
            self.sweep()
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{self.path} is not valid JSON: {exc}") from None
        version = data.get("schema_version") if isinstance(data, dict) else None
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise ConfigError(
                f"{self.path} has schema version {version}, written by a newer appliance; "
                f"this one reads up to {SCHEMA_VERSION}"
            )
        try:
            return RuntimeConfig.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{self.path} is invalid: {exc.errors()[0]['msg']}") from None

    def sweep(self) -> list[Path]:
        """Remove temp files a killed writer left behind (they are never read)."""
        removed = []
        if self.path.parent.is_dir():
            for leftover in self.path.parent.glob(f"{self.TEMP_PREFIX}*"):
                leftover.unlink(missing_ok=True)
                removed.append(leftover)
        return removed

    def update(self, change: Callable[[RuntimeConfig], RuntimeConfig]) -> RuntimeConfig:
        """Apply `change` to the saved configuration (a new one on a first start) and save
        it; each service changes only its own part (blocking: call from a thread)."""
        with self._lock:
            updated = change(self.load() or RuntimeConfig())
            self.save(updated)
            return updated

    def save(self, config: RuntimeConfig) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # written in this version's schema, whatever version the file was read from
        current = config.model_copy(update={"schema_version": SCHEMA_VERSION})
        data = json.dumps(current.model_dump(mode="json"), indent=2).encode()
        write_atomic(self.path, data, prefix=self.TEMP_PREFIX)
