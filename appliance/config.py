"""Runtime configuration the user changes through the API (cameras), persisted atomically."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance.durable import write_atomic
from appliance.errors import ApplianceError

SCHEMA_VERSION = 1
CAMERA_ID = r"^[a-z0-9][a-z0-9_-]{0,39}$"


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


class RuntimeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    cameras: list[CameraConfig] = Field(default_factory=list)
    default_model: str | None = Field(None, description="Activated for everything; else --model.")


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
        data = json.dumps(config.model_dump(mode="json"), indent=2).encode()
        write_atomic(self.path, data, prefix=self.TEMP_PREFIX)
