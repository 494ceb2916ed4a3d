"""Process settings: `APPLIANCE_*` environment variables, overridden by CLI flags."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from appliance.auth.client_address import parse_networks
from appliance.mqtt.settings import check_topic_prefix, parse_mqtt_url

ProviderName = Literal["tensorrt", "cuda", "cpu"]


def default_data_dir() -> Path:
    """systemd's StateDirectory when it gives one, else the user's XDG data folder."""
    state = os.environ.get("STATE_DIRECTORY")
    if state:
        return Path(state.split(":")[0])
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "appliance"


class Settings(BaseSettings):
    """How this process runs. Runtime configuration (cameras…) is persisted separately."""

    model_config = SettingsConfigDict(env_prefix="APPLIANCE_", extra="forbid", frozen=True)

    # Descriptions and defaults are also `appliance serve --help`'s (cli.setting_help).
    host: str = Field(
        "0.0.0.0",  # an appliance serves its LAN, every request behind a token
        description="Address to bind: 0.0.0.0 serves the LAN, every request needing a token; "
        "with APPLIANCE_AUTH=0, 127.0.0.1 unless a host is given",
    )
    port: int = Field(8080, ge=1, le=65535, description="Port to listen on.")
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where state lives: $STATE_DIRECTORY under systemd, else "
        "$XDG_DATA_HOME/appliance",
    )
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["demo"],
        description="Models to load: 'demo', a path to an .onnx file, or name=path. "
        "The first one answers requests that name no model.",
    )
    engine: Literal["auto", "onnxruntime", "openvino", "tensorrt"] = Field(
        "auto",
        description="auto: a cached TensorRT engine where TensorRT and a GPU exist, else "
        "OpenVINO where it is installed on x86_64 (its INT8 build if one was made), else "
        "ONNX Runtime with the first available provider.",
    )
    openvino_device: str = Field(
        "AUTO", description="OpenVINO device: AUTO (its choice), CPU, GPU (an Intel GPU)."
    )
    int8_min_agreement: float = Field(
        0.9,
        ge=0,
        le=1,
        description="An INT8 build serves only if its detections agree with the original "
        "model's at least this well (F1, boxes matched at IoU 0.5 with the same label).",
    )
    providers: Annotated[list[ProviderName], NoDecode] = Field(
        default_factory=lambda: ["tensorrt", "cuda", "cpu"],
        description="ONNX Runtime execution providers in order of preference.",
    )
    intra_op_threads: int = Field(0, ge=0, description="ONNX Runtime threads per op; 0 = auto.")
    opencv_threads: int = Field(
        1, ge=0, le=256, description="OpenCV's own worker threads; 0 = its default (one a core)."
    )
    inter_op_threads: int = Field(0, ge=0)
    ort_spinning: bool = Field(
        False, description="ONNX Runtime's pool threads busy-wait for work (its own default)."
    )
    max_upload_mb: float = Field(20.0, gt=0, description="Largest accepted request body.")
    max_model_mb: float = Field(512.0, gt=0, description="Largest accepted model upload.")
    max_image_pixels: int = Field(50_000_000, gt=0, description="Largest accepted image area.")
    max_batch_images: int = Field(16, ge=1, le=256)
    # Limits that keep one LAN client from starving the others (see README, Limits).
    max_concurrent_detects: int = Field(
        8, ge=1, le=1024, description="Detect/infer requests in flight; more get 503 at once."
    )
    max_ws_message_mb: float = Field(
        8.0, gt=0, description="Largest WebSocket message; larger closes it with 1009."
    )
    max_ws_fps: float = Field(
        30.0, gt=0, description="Frames a /v1/detect/ws client may send a second; more dropped."
    )
    max_json_kb: int = Field(
        1024, ge=1, description="Largest body of a JSON request (cameras, activation, jobs)."
    )
    max_cameras: int = Field(16, ge=1, le=256, description="Cameras that may be configured.")
    max_viewers_per_camera: int = Field(
        8, ge=1, le=1024, description="Open MJPEG/WebSocket/snapshot viewers of one camera."
    )
    media_dirs: Annotated[list[Path] | None, NoDecode] = Field(
        None,
        description="Folders file:// cameras may read; default: <data_dir>/media and ~/Videos.",
    )
    stall_after_s: float = Field(3.0, gt=0, description="No frame this long: a camera stalled.")
    reconnect_after_s: float = Field(5.0, gt=0, description="…and is reconnected after this long.")
    telemetry_interval_s: float = Field(1.0, gt=0, le=60, description="Seconds between samples.")
    telemetry_history_s: float = Field(600.0, gt=0, le=86400, description="History kept.")
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Least severe log messages written."
    )
    graceful_shutdown_s: float = Field(5.0, ge=0)
    dashboard: bool = Field(True, description="Serve the NiceGUI dashboard at /.")
    device_name: str = Field(
        default_factory=socket.gethostname, description="Shown in the dashboard's header."
    )
    # Security (README, Authentication): on unless turned off explicitly.
    auth: bool = Field(True, description="Require bearer tokens; 0 also binds loopback.")
    metrics_public: bool = Field(False, description="Serve /metrics without a token.")
    login_link_ttl_s: float = Field(
        60.0, gt=0, le=600, description="How long a one-time dashboard sign-in link works."
    )
    deepstack_keyless: bool = Field(
        False,
        description="POST /v1/vision/detection answers requests that carry no api_key, for "
        "NVRs with no field for one (Blue Iris); a wrong key is still refused.",
    )
    auth_max_failures: int = Field(
        10, ge=1, le=10_000, description="Failed sign-ins from one address in a minute: locked."
    )
    auth_lockout_s: float = Field(
        30.0, gt=0, le=900, description="First lockout; doubled per repeat, up to 15 minutes."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Reverse proxies (IPs, CIDRs) whose X-Forwarded-For names the client.",
    )
    session_ttl_s: float = Field(
        12 * 3600.0,
        gt=0,
        le=30 * 86400,
        description="How long a dashboard sign-in lasts, from signing in (fixed, not sliding).",
    )
    events_max_gb: float = Field(
        5.0, gt=0, description="Disk the stored events may use; the oldest go first."
    )
    events_min_free_gb: float = Field(
        1.0, ge=0, description="Events never leave less disk free than this."
    )
    mqtt_url: SecretStr | None = Field(
        None, description="mqtt://user:pass@host:1883 (mqtts:// for TLS); MQTT is off when unset."
    )
    mqtt_prefix: str = Field("appliance", description="Topics start with this (Frigate-style).")
    mqtt_discovery_prefix: str = Field(
        "homeassistant", description="Home Assistant discovery prefix."
    )
    tls_cert: Path | None = Field(None, description="PEM certificate: serve HTTPS.")
    tls_key: Path | None = Field(None, description="PEM private key of tls_cert.")

    @field_validator("models", "providers", "media_dirs", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        """Lists come from the environment as `a,b,c`, not JSON."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        """A typo stops the start with the entry named, rather than trusting nothing."""
        return [str(network) for network in parse_networks(value)]

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: SecretStr | None) -> SecretStr | None:
        """A bad URL stops the start with a clear reason (which never shows the password)."""
        if value is not None and value.get_secret_value():
            parse_mqtt_url(value.get_secret_value())
        return value or None

    @field_validator("mqtt_prefix", "mqtt_discovery_prefix")
    @classmethod
    def _topic_prefix(cls, value: str) -> str:
        return check_topic_prefix(value)

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("set both APPLIANCE_TLS_CERT and APPLIANCE_TLS_KEY, or neither")
        return self

    @property
    def bind_host(self) -> str:
        """The address to bind: with authentication off, loopback unless a host was given
        explicitly (a flag or APPLIANCE_HOST), whatever the default may be."""
        if not self.auth and "host" not in self.model_fields_set:
            return "127.0.0.1"
        return self.host

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_model_bytes(self) -> int:
        return int(self.max_model_mb * 1024 * 1024)

    @property
    def max_ws_message_bytes(self) -> int:
        return int(self.max_ws_message_mb * 1024 * 1024)

    @property
    def media_roots(self) -> list[Path]:
        """Where file:// sources may point (an empty APPLIANCE_MEDIA_DIRS allows none)."""
        if self.media_dirs is not None:
            return [path.expanduser() for path in self.media_dirs]
        return [self.data_dir / "media", Path.home() / "Videos"]
