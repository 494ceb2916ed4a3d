"""The small value types of serving models: what to load, and how loading went."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from appliance.engines.remote import SCHEME as REMOTE_SCHEME
from appliance.engines.remote import RemoteModel
from appliance.errors import InvalidInputError, ModelLoadError
from appliance.models.demo import DEMO_MODEL_NAME, demo_model_path
from appliance.models.detector import Detector

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ModelSpec:
    """A model to load: a name and an ONNX file, or a model on an inference server."""

    name: str
    path: Path | None
    remote: RemoteModel | None = None  # served elsewhere: triton://… or a registered URL

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """`demo`, `path/to/model.onnx` (named after the file), `name=path`,
        `triton://host:port/model` (named after the model) or `name=triton://…`."""
        if text == "demo":
            return cls(DEMO_MODEL_NAME, demo_model_path())
        name, sep, location = text.partition("=")
        if not sep or "://" in name:
            name, location = "", text
        # a malformed URI fails here, not at start-up
        remote = RemoteModel.parse(location) if location.startswith(f"{REMOTE_SCHEME}://") else None
        if not name:
            name = remote.model if remote else Path(location).stem
        if not MODEL_NAME.match(name):
            raise ModelLoadError(f"model name {name!r} must be letters, digits, '.', '_' or '-'")
        if remote is not None:
            return cls(name, None, remote)
        return cls(name, Path(location).expanduser())


class ServiceState(str, enum.Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    backend: str
    device: str
    precision: str | None
    input_size: tuple[int, int]
    labels: int
    warmup_ms: float

    @classmethod
    def of(cls, detector: Detector, warmup_ms: float) -> LoadedModel:
        return cls(
            name=detector.ref.name,
            version=detector.ref.version,
            backend=detector.engine.backend,
            device=detector.engine.device,
            precision=detector.precision,
            input_size=detector.input_hw,
            labels=len(detector.labels),
            warmup_ms=round(warmup_ms, 1),
        )


@dataclass
class Readiness:
    state: ServiceState = ServiceState.LOADING
    error: str | None = None
    models: list[LoadedModel] = field(default_factory=list)


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int
    max_batch: int


@dataclass(frozen=True)
class SwapReport:
    model: str
    version: str
    cameras: list[str]
    default: bool
    load_ms: float
    warmup_ms: float
    switch_ms: float
    rss_before_mb: float
    rss_after_mb: float
    released: list[str]


def class_ids(classes: Sequence[str] | None, labels: Sequence[str]) -> frozenset[int] | None:
    """Class ids for labels or ids given as text (None or empty: every class)."""
    if not classes:
        return None
    return frozenset(_class_id(value, labels) for value in classes)


def _class_id(value: str, labels: Sequence[str]) -> int:
    if value.isdigit() and int(value) < len(labels):
        return int(value)
    if value in labels:
        return labels.index(value)
    raise InvalidInputError(
        f"unknown class {value!r}: give a label of the model or an id below {len(labels)}"
    )
