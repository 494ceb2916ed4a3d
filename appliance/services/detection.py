"""Detection as a service: loads the configured models, runs detections off the event loop."""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import numpy as np
from anyio import to_thread
from loguru import logger

from appliance.domain import DetectionResult, DetectParams
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.remote import SCHEME as REMOTE_SCHEME
from appliance.engines.remote import RemoteModel
from appliance.errors import (
    ApplianceError,
    InvalidInputError,
    ModelClosedError,
    ModelLoadError,
    ModelNotFoundError,
    NotReadyError,
)
from appliance.imaging import decode_image, encode_jpeg
from appliance.models.demo import DEMO_MODEL_NAME, demo_model_path
from appliance.models.detector import DecodedImage, Detector
from appliance.models.engine_select import EngineSelector
from appliance.pipeline.annotate import draw_detections

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ModelSpec:
    """A model to load: a name and an ONNX file, or a model on an inference server."""

    name: str
    path: Path | None
    remote: str | None = None  # triton://host:port/model[/version]

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """`demo`, `path/to/model.onnx` (named after the file), `name=path`,
        `triton://host:port/model` (named after the model) or `name=triton://…`."""
        if text == "demo":
            return cls(DEMO_MODEL_NAME, demo_model_path())
        name, sep, location = text.partition("=")
        if not sep or "://" in name:
            name, location = "", text
        remote = location if location.startswith(f"{REMOTE_SCHEME}://") else None
        if not name:
            name = RemoteModel.parse(remote).model if remote else Path(location).stem
        if not MODEL_NAME.match(name):
            raise ModelLoadError(f"model name {name!r} must be letters, digits, '.', '_' or '-'")
        if remote is not None:
            RemoteModel.parse(remote)  # a malformed URI fails here, not at start-up
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
    input_size: tuple[int, int]
    labels: int
    warmup_ms: float


@dataclass
class Readiness:
    state: ServiceState = ServiceState.LOADING
    error: str | None = None
    models: list[LoadedModel] = field(default_factory=list)


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int
    max_batch: int


class DetectionService:
    """Owns the loaded detectors. Every blocking step runs in a worker thread."""

    def __init__(
        self,
        specs: Sequence[ModelSpec],
        config: OnnxRuntimeConfig,
        limits: ImageLimits,
        selector: EngineSelector | None = None,
    ):
        """`selector` picks each model's backend (engine: auto); none: ONNX Runtime."""
        if not specs:
            raise ModelLoadError("at least one model must be configured")
        for spec in specs:
            if spec.path is not None and not spec.path.is_file():
                raise ModelLoadError(f"model file {spec.path} does not exist")
        self._specs = list(specs)
        self._config = config
        self._selector = selector
        self.limits = limits
        self.default_model = specs[0].name
        self._detectors: dict[str, Detector] = {}
        self.readiness = Readiness()
        # One detection at a time: decoding beside a multi-threaded inference on the same
        # cores only preempts ONNX Runtime's workers (measured: 8 clients lost 10 % throughput).
        self._compute = anyio.CapacityLimiter(1)

    def add_startup_models(self, specs: Sequence[ModelSpec], default: str | None) -> None:
        """More models to load at start (saved activations); `default` answers unnamed requests."""
        known = {spec.name for spec in self._specs}
        self._specs += [spec for spec in specs if spec.name not in known]
        if default is not None and default in {spec.name for spec in self._specs}:
            self.default_model = default

    async def start(self) -> None:
        """Load and warm every model; readiness says how it went. Never raises."""
        try:
            for spec in self._specs:
                detector = await to_thread.run_sync(self._load, spec)
                self._detectors[spec.name] = detector
                warmup_ms = await to_thread.run_sync(detector.warm_up)
                self.readiness.models.append(_describe(detector, warmup_ms))
                logger.info(
                    "model {} {} loaded on {}/{}, warm-up {:.0f} ms",
                    spec.name, detector.ref.version, detector.engine.backend,
                    detector.engine.device, warmup_ms,
                )  # fmt: skip
            self.readiness.state = ServiceState.READY
        except ApplianceError as exc:
            self.readiness.state, self.readiness.error = ServiceState.FAILED, exc.message
            logger.error("models failed to load: {}", exc.message)
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:
            self.readiness.state, self.readiness.error = ServiceState.FAILED, repr(exc)
            logger.exception("models failed to load")

    def _load(self, spec: ModelSpec) -> Detector:
        if spec.remote is not None:
            return Detector.connect(spec.name, spec.remote)
        assert spec.path is not None
        return Detector.load(spec.name, spec.path, self._config, self._selector)

    def close(self) -> None:
        for detector in self._detectors.values():
            detector.close()
        self._detectors.clear()

    def detector(self, name: str | None) -> Detector:
        """The named detector (or the default one) if it is loaded."""
        name = name or self.default_model
        known = {spec.name for spec in self._specs} | set(self._detectors)
        if name not in known:
            raise ModelNotFoundError(f"no model named {name!r}; loaded: {self.model_names}")
        if self.readiness.state is ServiceState.FAILED:
            raise NotReadyError(f"not ready: {self.readiness.error}")
        if self.readiness.state is ServiceState.LOADING:
            raise NotReadyError("not ready: models are still loading", retry_after=1.0)
        return self._detectors[name]

    @property
    def model_names(self) -> list[str]:
        return list(dict.fromkeys([*(spec.name for spec in self._specs), *self._detectors]))

    @property
    def loaded(self) -> dict[str, Detector]:
        return dict(self._detectors)

    def load_and_warm(self, name: str, path: Path) -> tuple[Detector, float, float]:
        """Load a model beside the ones serving, and warm it (blocking: run in a thread).
        Returns it with its load and warm-up times in ms; nothing serving changes."""
        start = time.perf_counter()
        detector = Detector.load(name, path, self._config, self._selector)
        loaded = time.perf_counter()
        try:
            warmup_ms = detector.warm_up()
        except Exception:
            detector.close()
            raise
        return detector, (loaded - start) * 1000, warmup_ms

    def install(
        self, detector: Detector, *, default: bool, warmup_ms: float = 0.0
    ) -> Detector | None:
        """Serve `detector` under its name from now on (and as the default if asked); returns
        the detector it replaced, for the caller to close once nothing uses it."""
        name = detector.ref.name
        previous = self._detectors.get(name)
        self._detectors[name] = detector
        if default:
            self.default_model = name
        self.readiness.models = [m for m in self.readiness.models if m.name != name]
        self.readiness.models.append(_describe(detector, warmup_ms))
        return previous if previous is not detector else None

    def unload(self, name: str) -> None:
        """Stop serving `name` and free it (waits for an inference in flight)."""
        if name == self.default_model:
            return
        detector = self._detectors.pop(name, None)
        self.readiness.models = [m for m in self.readiness.models if m.name != name]
        if detector is not None:
            detector.close()

    def params(
        self,
        model: str | None,
        *,
        conf: float,
        iou: float,
        max_det: int,
        classes: Sequence[str] | None,
    ) -> DetectParams:
        """Validated parameters; `classes` may name labels or give class ids."""
        wanted = None
        if classes:
            wanted = frozenset(_class_id(c, self.detector(model).labels) for c in classes)
        return DetectParams(conf=conf, iou=iou, max_det=max_det, classes=wanted)

    async def detect(
        self, images: Sequence[bytes], params: DetectParams, model: str | None = None
    ) -> list[DetectionResult]:
        """Decode and detect several images; one batched inference where the model allows."""
        self.detector(model)  # an unknown model, or not ready: fail before any work
        if len(images) > self.limits.max_batch:
            raise InvalidInputError(
                f"{len(images)} images; at most {self.limits.max_batch} a batch"
            )
        return await to_thread.run_sync(
            self._decode_and_detect, model, images, params, limiter=self._compute
        )

    async def infer_tensor(self, model: str | None, tensor: np.ndarray) -> list[np.ndarray]:
        """Run the model's engine on a raw input tensor (no pre- or post-processing), as
        the Open Inference Protocol asks; one inference at a time, off the event loop."""
        engine = self.detector(model).engine
        return await to_thread.run_sync(engine.infer, tensor, limiter=self._compute)

    async def detect_annotated(
        self, image: bytes, params: DetectParams, model: str | None = None
    ) -> tuple[DetectionResult, bytes]:
        """Detect, then draw the boxes and encode the picture as JPEG."""
        self.detector(model)
        return await to_thread.run_sync(
            self._detect_and_draw, model, image, params, limiter=self._compute
        )

    def _decode_and_detect(
        self, model: str | None, images: Sequence[bytes], params: DetectParams
    ) -> list[DetectionResult]:
        decoded = [DecodedImage(*decode_image(data, self.limits.max_pixels)) for data in images]
        return self._detect_current(model, decoded, params)

    def _detect_and_draw(
        self, model: str | None, image: bytes, params: DetectParams
    ) -> tuple[DetectionResult, bytes]:
        decoded = DecodedImage(*decode_image(image, self.limits.max_pixels))
        result = self._detect_current(model, [decoded], params)[0]
        return result, encode_jpeg(draw_detections(decoded.pixels, result.detections))

    def _detect_current(
        self, model: str | None, images: list[DecodedImage], params: DetectParams
    ) -> list[DetectionResult]:
        """Detect with whatever serves `model` now; a swap that closes the detector just
        resolved makes it resolve again (blue/green: no request fails during a swap)."""
        for _ in range(3):
            try:
                return self.detector(model).detect(images, params)
            except ModelClosedError:
                continue
        return self.detector(model).detect(images, params)


def _class_id(value: str, labels: Sequence[str]) -> int:
    if value.isdigit() and int(value) < len(labels):
        return int(value)
    if value in labels:
        return labels.index(value)
    raise InvalidInputError(
        f"unknown class {value!r}: give a label of the model or an id below {len(labels)}"
    )


def _describe(detector: Detector, warmup_ms: float) -> LoadedModel:
    return LoadedModel(
        name=detector.ref.name,
        version=detector.ref.version,
        backend=detector.engine.backend,
        device=detector.engine.device,
        input_size=detector.input_hw,
        labels=len(detector.labels),
        warmup_ms=round(warmup_ms, 1),
    )
