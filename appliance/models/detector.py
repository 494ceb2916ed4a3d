"""A detector: one engine plus what it takes to feed it images and read its answers."""

from __future__ import annotations

import ast
import hashlib
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.domain import Detection, DetectionResult, DetectParams, ModelRef, StageTimings
from appliance.engines.base import Engine, EngineConfigBase
from appliance.engines.onnxruntime import OnnxRuntimeConfig
from appliance.engines.registry import file_engine_config, open_engine
from appliance.engines.remote import RemoteConfig, RemoteEngine, RemoteModel
from appliance.errors import InferenceError, ModelClosedError, UnsupportedModelError
from appliance.models.decode import (
    DEFAULT_FILL,
    Letterbox,
    OutputFamily,
    decode,
    detect_family,
    letterbox_batch,
)
from appliance.models.engine_select import EngineSelector
from appliance.models.labels import resolve_labels
from appliance.models.nested import nested_setting

DEFAULT_INPUT = 640


@dataclass(frozen=True)
class DecodedImage:
    """An image ready for detection, with the time its decoding took."""

    pixels: np.ndarray  # BGR uint8, HxWx3
    decode_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """Images letterboxed into one input tensor: what the engine runs next."""

    images: tuple[DecodedImage, ...]
    params: tuple[DetectParams, ...]
    boxes: tuple[Letterbox, ...]
    tensor: np.ndarray
    preprocess_ms: float


@dataclass(frozen=True, slots=True)
class EngineOutput:
    """The engine's raw answer for one prepared batch, and when and how long it ran."""

    output: np.ndarray
    started_mono: float
    infer_ms: float


class Detector:
    """Runs a detection model on BGR images. Thread-safe: inference is serialised per engine
    because concurrent runs only oversubscribe the cores they share."""

    def __init__(
        self,
        ref: ModelRef,
        engine: Engine,
        labels: Sequence[str],
        path: Path | None = None,
        note: str | None = None,
        precision: str | None = None,
    ):
        self.ref = ref
        self.engine = engine
        self.labels = tuple(labels)
        self.path = path
        self.note = note  # why this backend serves it (engine: auto), for views and logs
        # what the engine computes in (fp32, fp16, bf16, int8); None: not known (remote)
        self.precision = precision or getattr(engine, "precision", None)
        self.input_hw = _input_size(engine)
        self.family = _family(engine, len(self.labels))
        self.dynamic_batch = engine.inputs[0].dynamic_batch
        self.fill = int(engine.metadata.get("letterbox_fill", DEFAULT_FILL))
        # the containment fraction at which a box merges into a larger one of its class
        self.suppress_nested = nested_setting(engine.metadata)
        self._lock = threading.Lock()
        self._users = 0  # detections in progress: close() waits for them (blue/green swaps)
        self._closing = False
        self._idle = threading.Condition()

    @classmethod
    def open(
        cls,
        name: str,
        config: EngineConfigBase,
        source: Path | str,
        *,
        version: str | None = None,
        note: str | None = None,
    ) -> Detector:
        """`source` (a model file, or a URI for remote engines) on the engine type `config`
        belongs to, opened through the registry. Its version: `version`, else the file's
        (a URI has none: "remote")."""
        engine = open_engine(config, source)
        return cls._adopt(name, engine, source if isinstance(source, Path) else None, version, note)

    @classmethod
    def load(
        cls,
        name: str,
        path: Path,
        config: OnnxRuntimeConfig,
        selector: EngineSelector | None = None,
    ) -> Detector:
        """The model at `path` on the engine `selector` picks (none: by the file's suffix).
        Its version is the ONNX file's, whichever artifact of it the engine runs."""
        if selector is None:
            return cls.open(name, file_engine_config(path, config), path)
        engine, selection = selector.load(path)
        digest = selection.onnx_sha256  # read once by the selector, not twice
        version = digest[:12] if digest else None
        return cls._adopt(name, engine, path, version, selection.note, selection.precision)

    @classmethod
    def connect(
        cls, name: str, target: RemoteModel, config: RemoteConfig | None = None
    ) -> Detector:
        """A model served elsewhere over the Open Inference Protocol. Its version is the
        repository's for that server, model and version (`RemoteModel.digest`)."""
        engine = RemoteEngine.connect(target, config)
        return cls._adopt(name, engine, None, target.digest[:12], f"remote, {target.uri}")

    @classmethod
    def _adopt(
        cls,
        name: str,
        engine: Engine,
        path: Path | None,
        version: str | None,
        note: str | None,
        precision: str | None = None,
    ) -> Detector:
        """A detector around an opened engine; the engine is closed if that fails."""
        try:
            labels = resolve_labels(engine.metadata, path)
            if version is None:
                version = file_version(path) if path is not None else "remote"
            return cls(ModelRef(name, version), engine, labels, path, note, precision)
        except Exception:
            engine.close()
            raise

    def warm_up(self, max_batch: int = 1) -> float:
        """Run the model once per batch size it will be given (up to `max_batch` images when
        its batch is dynamic), largest first, so the first real request does not pay for lazy
        init; ms taken. ONNX Runtime's memory arena grows to the largest batch it has run
        and never shrinks: warmed at 1 only, it grew in steps of 17-50 MB whenever a batch
        of 2, 3 or 4 first came along, minutes into serving. Largest first, it reaches its
        size now and the smaller batches fit inside it (~20 MB less than growing up to it).
        It costs ~10x a single image's warm-up."""
        start = time.perf_counter()
        blank = DecodedImage(np.full((*self.input_hw, 3), self.fill, dtype=np.uint8))
        for size in range(max_batch if self.dynamic_batch else 1, 0, -1):
            self.detect([blank] * size, DetectParams())
        return (time.perf_counter() - start) * 1000

    def detect(
        self, images: Sequence[DecodedImage], params: DetectParams | Sequence[DetectParams]
    ) -> list[DetectionResult]:
        with self._in_use():
            return self._detect(images, params)

    @contextmanager
    def _in_use(self) -> Iterator[None]:
        with self._idle:
            if self._closing:
                raise ModelClosedError(f"model {self.ref.name} {self.ref.version} was replaced")
            self._users += 1
        try:
            yield
        finally:
            with self._idle:
                self._users -= 1
                self._idle.notify_all()

    def _detect(
        self, images: Sequence[DecodedImage], params: DetectParams | Sequence[DetectParams]
    ) -> list[DetectionResult]:
        """Detect objects in each image; a dynamic-batch model runs them as one batch.
        `params` applies to all images, or gives each image its own (cameras in one batch)."""
        if not images:
            return []
        each = [params] * len(images) if isinstance(params, DetectParams) else list(params)
        chunk = len(images) if self.dynamic_batch else 1
        results: list[DetectionResult] = []
        for start in range(0, len(images), chunk):
            end = start + chunk
            results.extend(self._detect_batch(images[start:end], each[start:end]))
        return results

    def _detect_batch(
        self, images: Sequence[DecodedImage], params: Sequence[DetectParams]
    ) -> list[DetectionResult]:
        prepared = self.prepare(images, params)
        return self.finish(prepared, self._infer(prepared))

    def prepare(
        self, images: Sequence[DecodedImage], params: Sequence[DetectParams]
    ) -> PreparedBatch:
        """Letterbox images into one input tensor (at most one batch: a model without a
        dynamic batch takes one image). Needs no engine, so it can run while the engine
        works on the previous batch."""
        if not self.dynamic_batch and len(images) != 1:
            raise ValueError(f"{self.ref.name} takes one image per run, not {len(images)}")
        start = time.perf_counter()
        tensor, boxes = letterbox_batch(
            [image.pixels for image in images], self.input_hw, self.fill
        )
        return PreparedBatch(
            tuple(images),
            tuple(params),
            tuple(boxes),
            tensor,
            (time.perf_counter() - start) * 1000,
        )

    def run(self, prepared: PreparedBatch) -> EngineOutput:
        """The engine's answer for a prepared batch (ModelClosedError once replaced)."""
        with self._in_use():
            return self._infer(prepared)

    def run_tensor(self, tensor: np.ndarray) -> list[np.ndarray]:
        """The engine's raw outputs for a ready input tensor (Open Inference Protocol); like
        `run`, counted so that close() waits for it."""
        with self._in_use(), self._lock:
            return self.engine.infer(tensor)

    def _infer(self, prepared: PreparedBatch) -> EngineOutput:
        started = time.monotonic()
        t0 = time.perf_counter()
        with self._lock:
            output = self.engine.infer(prepared.tensor)[0]
        infer_ms = (time.perf_counter() - t0) * 1000
        if output.shape[0] != len(prepared.images):
            raise InferenceError(
                f"model returned {output.shape[0]} results for {len(prepared.images)} images"
            )
        return EngineOutput(output, started, infer_ms)

    def finish(self, prepared: PreparedBatch, answer: EngineOutput) -> list[DetectionResult]:
        """Decode the engine's answer into detections per image, in the images' sizes."""
        start = time.perf_counter()
        images = prepared.images
        detections = [
            self._decode(answer.output[i], box, image.pixels.shape[:2], prepared.params[i])
            for i, (image, box) in enumerate(zip(images, prepared.boxes, strict=True))
        ]
        postprocess_ms = (time.perf_counter() - start) * 1000
        count = len(images)  # a batch's stage times are shared by its images
        return [
            DetectionResult(
                model=self.ref,
                width=image.pixels.shape[1],
                height=image.pixels.shape[0],
                detections=found,
                timings=StageTimings(
                    decode_ms=round(image.decode_ms, 3),
                    preprocess_ms=round(prepared.preprocess_ms / count, 3),
                    infer_ms=round(answer.infer_ms / count, 3),
                    postprocess_ms=round(postprocess_ms / count, 3),
                ),
            )
            for image, found in zip(images, detections, strict=True)
        ]

    def _decode(
        self, output: np.ndarray, box: Letterbox, image_hw: tuple[int, int], params: DetectParams
    ) -> tuple[Detection, ...]:
        if not np.isfinite(output).all():
            raise InferenceError(f"model {self.ref.name} returned non-finite values")
        try:
            return decode(
                output, self.family, box, image_hw, params, self.labels, self.suppress_nested
            )
        except (IndexError, ValueError) as exc:  # a dynamic output that changed its shape
            raise InferenceError(
                f"model {self.ref.name} returned shape {list(output.shape)}, which does not "
                f"decode as {self.family.value}: {exc}"
            ) from None

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new detections, let those in flight finish, then free the engine."""
        with self._idle:
            self._closing = True
            self._idle.wait_for(lambda: self._users == 0, timeout)
        with self._lock:
            self.engine.close()


def file_version(path: Path) -> str:
    """A model's version: the first 12 hex digits of its file's sha256."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def _input_size(engine: Engine) -> tuple[int, int]:
    spec = engine.inputs[0]
    if len(spec.shape) != 4 or spec.shape[1] not in (3, None, "channels"):
        raise UnsupportedModelError(
            f"input {spec.name} {list(spec.shape)} is not an NCHW colour image"
        )
    if spec.dtype != "float32":
        raise UnsupportedModelError(f"input {spec.name} is {spec.dtype}; float32 expected")
    height, width = spec.shape[2], spec.shape[3]
    if isinstance(height, int) and isinstance(width, int):
        return height, width
    imgsz = engine.metadata.get("imgsz")
    if imgsz:
        size = ast.literal_eval(imgsz)
        return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    return DEFAULT_INPUT, DEFAULT_INPUT


def _family(engine: Engine, num_classes: int) -> OutputFamily:
    declared = engine.metadata.get("output_family")
    if declared:
        try:
            return OutputFamily(declared)
        except ValueError:
            raise UnsupportedModelError(f"unknown output_family {declared!r} in metadata") from None
    shape = engine.outputs[0].shape
    if len(shape) != 3:
        raise UnsupportedModelError(f"output {list(shape)} is not [batch, a, b]")
    return detect_family(shape[1:], num_classes)
