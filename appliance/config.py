"""Runtime configuration the user changes through the API (cameras), persisted atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    """`config.json` in the data dir: written to a temp file, fsynced, renamed into place."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> RuntimeConfig | None:
        """The saved configuration, or None when there is none yet (first start)."""
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return RuntimeConfig.model_validate_json(raw)
        except ValidationError as exc:
            raise ConfigError(f"{self.path} is invalid: {exc.errors()[0]['msg']}") from None

    def save(self, config: RuntimeConfig) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps(config.model_dump(mode="json"), indent=2).encode()
        fd, temporary = tempfile.mkstemp(prefix=".config-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)
