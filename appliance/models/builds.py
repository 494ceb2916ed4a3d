"""Engine builds from ONNX models, cached by what makes them valid: TensorRT engines where
TensorRT and a GPU exist, OpenVINO INT8 models where OpenVINO and NNCF are installed, ONNX
Runtime's optimised graph everywhere. A build is verified against the original model before
it enters the cache. The job service runs builds in its
background thread; this module knows nothing of jobs beyond `progress` and `cancelled`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from appliance.engines.base import Engine, TensorSpec
from appliance.engines.onnxruntime import OnnxRuntimeConfig, optimize_onnx
from appliance.engines.openvino import OpenVinoConfig
from appliance.engines.platform import Platform, probe_platform
from appliance.engines.registry import open_engine
from appliance.engines.tensorrt import TensorRTConfig
from appliance.errors import (
    BackendUnavailableError,
    BuildCancelledError,
    InvalidInputError,
    ModelLoadError,
)
from appliance.models.engine_cache import BuildOutput, CachedArtifact, CacheKey, EngineCache
from appliance.models.int8 import check_int8_tools, nncf_version

BUILD_KINDS = ("tensorrt", "onnxruntime", "openvino")
PRECISIONS = ("fp16", "fp32", "int8")
DEFAULT_MAX_BATCH = 8
MIN_AGREEMENT = 0.9  # an INT8 model serves only if its detections agree this well (F1)
MAX_BATCH_LIMIT = 64
ORT_LEVEL = "extended"  # see optimize_onnx: the level whose output is not tied to this CPU
ORT_TOLERANCE = 1e-3  # an optimised graph computes the same function: relative to the output

Progress = Callable[[float, str], None]  # fraction done (0..1), what is happening
# (how many, cancelled) -> BGR frames of the cameras that use the model as they come,
# maybe fewer
FrameSupplier = Callable[[int, Callable[[], bool]], Iterable[np.ndarray]]


@dataclass(frozen=True)
class BuildRequest:
    model: str
    version: str
    onnx: Path
    sha256: str
    kind: str
    precision: str
    max_batch: int
    frames: FrameSupplier | None = None  # INT8 calibration; None: no camera uses the model


def default_precision(kind: str) -> str:
    """FP16 for TensorRT (the point of a GPU build), INT8 for OpenVINO (its only build: an
    fp32/bf16 model needs none), FP32 for ONNX Runtime."""
    return {"tensorrt": "fp16", "openvino": "int8"}.get(kind, "fp32")


def tensorrt_identity(platform: Platform) -> tuple[str, str] | None:
    """(TensorRT version, GPU tag) engines are built for here, or None without TensorRT/GPU."""
    if platform.tensorrt is None or platform.gpu is None:
        return None
    return platform.tensorrt, platform.gpu.tag


OPENVINO_IR_DEVICE = "any"  # an OpenVINO IR runs on every device OpenVINO has


def openvino_identity(platform: Platform) -> tuple[str, str] | None:
    """(OpenVINO version, device) OpenVINO models are built for here, or None without it.
    The IR a build writes is the same for every device: compiling it for one is the load."""
    if platform.openvino is None:
        return None
    return platform.openvino, OPENVINO_IR_DEVICE


def onnxruntime_identity(platform: Platform, config: OnnxRuntimeConfig) -> tuple[str, str]:
    """(ONNX Runtime version, device) an optimised graph is made for: the GPU where the CUDA
    provider takes part (its fused nodes are CUDA's), else this CPU's architecture."""
    cuda = "cuda" in config.providers and "CUDAExecutionProvider" in platform.providers
    if cuda and platform.gpu is not None:
        return platform.onnxruntime, f"{platform.gpu.tag} cuda"
    return platform.onnxruntime, platform.cpu_tag


class EngineBuilder:
    """Plans, looks up and runs builds. `probe` says what this machine is (tests pass
    another platform to see keys change with versions and GPUs)."""

    def __init__(
        self,
        cache: EngineCache,
        config: OnnxRuntimeConfig,
        timing_dir: Path,
        probe: Callable[[], Platform] = probe_platform,
        *,
        openvino: OpenVinoConfig | None = None,
        min_agreement: float = MIN_AGREEMENT,
    ) -> None:
        self.cache = cache
        self._config = config
        self._openvino = openvino or OpenVinoConfig()
        self._min_agreement = min_agreement  # INT8 builds: F1 against the original
        self._timing_dir = timing_dir
        self._probe = probe

    def check(self, kind: str, precision: str, max_batch: int) -> None:
        """Refuse at once what cannot be built here (before a job is queued)."""
        if kind not in BUILD_KINDS:
            raise InvalidInputError(f"unknown build kind {kind!r}; use one of {BUILD_KINDS}")
        if precision not in PRECISIONS:
            raise InvalidInputError(f"unknown precision {precision!r}; use one of {PRECISIONS}")
        if not 1 <= max_batch <= MAX_BATCH_LIMIT:
            raise InvalidInputError(f"max_batch must be 1..{MAX_BATCH_LIMIT}")
        if precision == "int8" and kind != "openvino":
            raise InvalidInputError("int8 builds are OpenVINO's (kind openvino)")
        if kind == "onnxruntime" and precision != "fp32":
            # the CPU provider lacks FP16 kernels for most ops: an FP16 graph runs slower
            raise InvalidInputError("ONNX Runtime optimisation builds are fp32")
        if kind == "openvino":
            if precision != "int8":
                raise InvalidInputError("OpenVINO builds are int8 (fp32/bf16 need no build)")
            check_int8_tools()
        if kind == "tensorrt" and tensorrt_identity(self._probe()) is None:
            platform = self._probe()
            missing = "TensorRT" if platform.tensorrt is None else "an NVIDIA GPU"
            raise BackendUnavailableError(f"TensorRT builds need {missing}; this machine has none")

    def key(self, request: BuildRequest) -> CacheKey:
        platform = self._probe()
        name, dims = _onnx_input(request.onnx)
        if request.kind == "tensorrt":
            identity = tensorrt_identity(platform)
            if identity is None:
                raise BackendUnavailableError("TensorRT or the GPU is gone")
            batch = dims[0] if isinstance(dims[0], int) else f"1..{request.max_batch}"
            shapes = _shape_text(name, [batch, *dims[1:]])
            options = ""
        elif request.kind == "openvino":
            identity = openvino_identity(platform)
            if identity is None:
                raise BackendUnavailableError("OpenVINO is not installed")
            shapes, options = _shape_text(name, dims), f"nncf={nncf_version()}"
        else:
            identity = onnxruntime_identity(platform, self._config)
            shapes, options = _shape_text(name, dims), f"level={ORT_LEVEL}"
        version, device = identity
        return CacheKey(
            request.sha256, request.kind, version, device, request.precision, shapes, options
        )

    def cached(self, key: CacheKey) -> CachedArtifact | None:
        return self.cache.get(key)

    def build(
        self,
        request: BuildRequest,
        key: CacheKey,
        progress: Progress,
        cancelled: Callable[[], bool],
    ) -> CachedArtifact:
        """Build into the cache; BuildCancelledError once `cancelled()` says so."""
        run = {
            "onnxruntime": self._onnxruntime,
            "openvino": self._int8,
            "tensorrt": self._tensorrt,
        }[request.kind]
        return self.cache.store(
            key, request.model, lambda staging: run(request, key, staging, progress, cancelled)
        )

    def _onnxruntime(
        self,
        request: BuildRequest,
        key: CacheKey,
        staging: Path,
        progress: Progress,
        cancelled: Callable[[], bool],
    ) -> BuildOutput:
        progress(0.05, "optimising the graph with ONNX Runtime")
        target = staging / "model.onnx"
        providers = optimize_onnx(request.onnx, target, self._config)
        _stop_if(cancelled)
        progress(0.6, "checking the optimised graph against the original")
        config = _without_tensorrt(self._config)
        with _loaded(request.onnx, config) as original, _loaded(target, config) as optimised:
            check = _compare(original, optimised, batch=1)
            if check["relative_error"] > ORT_TOLERANCE:
                raise ModelLoadError(f"the optimised graph computes other values: {check}")
            metadata = dict(original.metadata)
        _stop_if(cancelled)
        progress(0.95, "saving")
        details = {"providers": providers, "level": ORT_LEVEL, "check": check}
        return BuildOutput("model.onnx", metadata, details)

    def _int8(
        self,
        request: BuildRequest,
        key: CacheKey,
        staging: Path,
        progress: Progress,
        cancelled: Callable[[], bool],
    ) -> BuildOutput:
        from appliance.models.int8_build import build_int8  # it runs detectors: no cycle

        return build_int8(
            request.onnx,
            staging,
            self._openvino,
            request.frames,
            progress,
            cancelled,
            min_agreement=self._min_agreement,
        )

    def _tensorrt(
        self,
        request: BuildRequest,
        key: CacheKey,
        staging: Path,
        progress: Progress,
        cancelled: Callable[[], bool],
    ) -> BuildOutput:
        from appliance.engines.tensorrt_build import build_engine  # GPU machines only

        progress(0.02, "parsing the ONNX model")
        self._timing_dir.mkdir(parents=True, exist_ok=True)
        built = build_engine(
            request.onnx,
            staging / "model.engine",
            precision=request.precision,
            max_batch=request.max_batch,
            timing_cache=self._timing_dir / f"timing-{_slug(key.backend_version, key.device)}",
            report=lambda fraction: progress(0.05 + 0.85 * fraction, "building the engine"),
            cancelled=cancelled,
        )
        _stop_if(cancelled)
        progress(0.92, "checking the engine against ONNX Runtime")
        config = self._config.model_copy(update={"providers": ("cpu",)})
        with _loaded(request.onnx, config) as reference:
            metadata = dict(reference.metadata)
            engine = open_engine(TensorRTConfig(), staging / "model.engine", metadata=metadata)
            try:
                check = _compare(reference, engine, batch=min(2, built.max_batch))
            finally:
                engine.close()
        details = {"typing": built.typing, "max_batch": built.max_batch, "check": check}
        return BuildOutput("model.engine", metadata, details)


@contextmanager
def _loaded(path: Path, config: OnnxRuntimeConfig) -> Iterator[Engine]:
    """An ONNX Runtime engine for the length of a `with` block."""
    engine = open_engine(config, path)
    try:
        yield engine
    finally:
        engine.close()


def _compare(reference: Engine, candidate: Engine, batch: int) -> dict[str, Any]:
    """Both engines on the same seeded input: outputs of the same shapes, finite, and how far
    apart (largest absolute difference, relative to the output's range)."""
    tensor = _probe_tensor(reference.inputs[0], reference.metadata, batch)
    expected, got = reference.infer(tensor), candidate.infer(tensor)
    if [a.shape for a in expected] != [b.shape for b in got]:
        shapes = ([a.shape for a in expected], [b.shape for b in got])
        raise ModelLoadError(f"the built engine's outputs have other shapes: {shapes}")
    if not all(np.isfinite(b).all() for b in got):
        raise ModelLoadError("the built engine returns non-finite values")
    diff = max(float(np.abs(a - b).max()) for a, b in zip(expected, got, strict=True))
    scale = max(1.0, max(float(np.abs(a).max()) for a in expected))
    return {"max_abs_diff": round(diff, 6), "relative_error": round(diff / scale, 8)}


def _probe_tensor(spec: TensorSpec, metadata: Mapping[str, str], batch: int) -> np.ndarray:
    try:  # Ultralytics writes imgsz as "640" or "[640, 640]"
        side = int(str(metadata.get("imgsz", "640")).strip("[]() ").split(",")[0])
    except ValueError:
        side = 640
    dims = [batch] + [
        d if isinstance(d, int) else (3 if i == 0 else side) for i, d in enumerate(spec.shape[1:])
    ]
    return np.random.default_rng(0).random(dims, dtype=np.float32)


def _onnx_input(path: Path) -> tuple[str, list[int | str]]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise InvalidInputError(f"the model has {len(inputs)} inputs; one image input expected")
    dims = inputs[0].type.tensor_type.shape.dim
    return inputs[0].name, [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]


def _shape_text(name: str, dims: list[int | str]) -> str:
    return f"{name} " + "x".join(str(d or "?") for d in dims)


def _slug(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16] + ".cache"


def _without_tensorrt(config: OnnxRuntimeConfig) -> OnnxRuntimeConfig:
    providers = tuple(p for p in config.providers if p != "tensorrt") or ("cpu",)
    return config.model_copy(update={"providers": providers})


def _stop_if(cancelled: Callable[[], bool]) -> None:
    if cancelled():
        raise BuildCancelledError("the build was cancelled")
