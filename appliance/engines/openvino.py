"""OpenVINO backend: ONNX models (and OpenVINO IR, e.g. an INT8 build) on an Intel or AMD CPU,
or an Intel GPU. On CPUs with bf16 or VNNI it is much faster than ONNX Runtime's CPU path.

Compiled models are cached on disk (`cache_dir`), so a restart skips most of the compile.
"""

from __future__ import annotations

import importlib.util
import platform
from collections.abc import Mapping
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from appliance.engines.base import EngineConfigBase, TensorSpec
from appliance.errors import InferenceError, ModelLoadError, UnsupportedModelError

_OV_TYPES = {"f32": "float32", "f16": "float16", "u8": "uint8", "i8": "int8"}
# What OpenVINO says it computes in, as the API names precisions.
_PRECISIONS = {"f32": "fp32", "bf16": "bf16", "f16": "fp16"}


class OpenVinoConfig(EngineConfigBase):
    """How OpenVINO compiles a model: which device, for latency or throughput."""

    type: Literal["openvino"] = "openvino"
    device: str = Field(
        "AUTO", description="OpenVINO device: AUTO (its choice), CPU, GPU, GPU.1, …"
    )
    hint: Literal["latency", "throughput"] = Field(
        "latency",
        description="How a single image runs: latency (all cores on it, fastest each: live "
        "cameras) or throughput.",
    )
    batch_streams: bool = Field(
        True,
        description="Batches of several images (batch detect, cameras batched together) run "
        "on a copy compiled for throughput, one request per image across its streams.",
    )
    threads: int = Field(0, ge=0, description="CPU inference threads; 0: OpenVINO's choice.")
    cpu_pinning: bool = Field(
        False,
        description="Pin the CPU inference threads to cores. Off: on a small machine the "
        "cameras' threads keep cores busy, and a thread pinned to one stalls the others.",
    )
    cache_dir: Path | None = Field(
        None, description="Where compiled models are cached, so a restart is fast."
    )
    precision: str | None = Field(
        None,
        description="What the artifact is, when it says so itself (an INT8 build: int8); "
        "None: the precision the device computes in.",
    )


def openvino_version() -> str | None:
    """The installed OpenVINO's version, read from pip metadata without importing it."""
    if importlib.util.find_spec("openvino") is None:
        return None
    try:
        return package_metadata.version("openvino")
    except package_metadata.PackageNotFoundError:
        return None


def import_openvino() -> Any:
    try:
        import openvino
    except ImportError as exc:
        where = "a dependency on x86_64" if platform.machine() == "x86_64" else "an extra here"
        raise ModelLoadError(
            f"the openvino engine needs OpenVINO ({where}): pip install openvino ({exc})"
        ) from exc
    return openvino


class OpenVinoEngine:
    """A model compiled for latency, with one infer request, for single images; batches go
    to a copy compiled for throughput (made at the first batch: the warm-up's), one request
    per image across its parallel streams, which on a CPU gets ~10-15 % more images a
    second out of a batch than one request holding it all. OpenVINO releases the GIL."""

    backend = "openvino"

    def __init__(
        self,
        core: Any,
        model: Any,
        compiled: Any,
        config: OpenVinoConfig,
        model_metadata: Mapping[str, str],
    ) -> None:
        self._core, self._model, self._config = core, model, config
        self._compiled = compiled
        self._request = compiled.create_infer_request()
        self._ports = compiled.outputs  # asked for once: every frame reads its outputs by them
        self._batches: Any = None  # the throughput copy's AsyncInferQueue, once needed
        self._answers: list[list[np.ndarray]] = []  # the batch in flight, image by image
        self.device = ",".join(compiled.get_property("EXECUTION_DEVICES"))
        # the model's ports keep the source's tensor names; a compiled model's may not
        self.inputs = tuple(_spec(port) for port in model.inputs)
        self.outputs = tuple(_spec(port) for port in model.outputs)
        self.metadata: Mapping[str, str] = dict(model_metadata)
        self.precision = config.precision or _compute_precision(core, compiled)

    @classmethod
    def open(
        cls, source: Path | str, config: OpenVinoConfig, metadata: Mapping[str, str] | None
    ) -> OpenVinoEngine:
        """The registry's way in: an ONNX file or an OpenVINO IR (`.xml` beside its `.bin`).
        Both carry the ONNX model's metadata (labels, letterbox fill); `metadata` adds to it."""
        return cls.load(Path(source), config, metadata)

    @classmethod
    def load(
        cls, path: Path, config: OpenVinoConfig, metadata: Mapping[str, str] | None = None
    ) -> OpenVinoEngine:
        ov = import_openvino()
        core = ov.Core()
        if config.cache_dir is not None:
            config.cache_dir.mkdir(parents=True, exist_ok=True)
            core.set_property({"CACHE_DIR": str(config.cache_dir)})
        if "CPU" in core.available_devices:  # for AUTO too, whenever it picks the CPU
            core.set_property("CPU", {"ENABLE_CPU_PINNING": config.cpu_pinning})
        try:
            model = core.read_model(str(path))
            if len(model.inputs) != 1:
                raise UnsupportedModelError(
                    f"{path.name} has {len(model.inputs)} inputs, expected one image"
                )
            compiled = core.compile_model(model, config.device, _properties(config, config.hint))
        except UnsupportedModelError:
            raise
        except Exception as exc:  # OpenVINO raises RuntimeError with its whole log
            raise ModelLoadError(f"OpenVINO cannot load {path.name}: {_first_line(exc)}") from exc
        found = {**framework_metadata(model), **(metadata or {})}
        return cls(core, model, compiled, config, found)

    def infer(self, batch: np.ndarray) -> list[np.ndarray]:
        try:
            if len(batch) > 1 and self._config.batch_streams:
                return self._infer_streams(batch)
            results = self._request.infer({0: batch})
        except Exception as exc:
            raise InferenceError(f"inference failed: {_first_line(exc)}") from exc
        # infer() copies the outputs out of the request's buffers (share_outputs=False)
        return [np.asarray(results[port]) for port in self._ports]

    def _infer_streams(self, batch: np.ndarray) -> list[np.ndarray]:
        if self._batches is None:
            ov = import_openvino()
            compiled = self._core.compile_model(
                self._model, self._config.device, _properties(self._config, "throughput")
            )
            self._batches = ov.AsyncInferQueue(compiled)
            self._batches.set_callback(self._answered)
        self._answers = [[] for _ in range(len(batch))]
        for index in range(len(batch)):
            self._batches.start_async({0: batch[index : index + 1]}, index)
        self._batches.wait_all()
        return [np.concatenate(parts) for parts in zip(*self._answers, strict=True)]

    def _answered(self, request: Any, index: int) -> None:
        """One image of a batch is done (on OpenVINO's thread): keep a copy of its outputs,
        since the request's buffers serve the next image."""
        self._answers[index] = [tensor.data.copy() for tensor in request.output_tensors]

    def close(self) -> None:
        # the last references: OpenVINO frees the model here
        self._request = self._batches = self._ports = None
        self._compiled = self._model = None


def framework_metadata(model: Any) -> dict[str, str]:
    """The source model's metadata (ONNX metadata_props), which OpenVINO keeps in the model's
    rt_info under "framework" and writes into an IR it saves."""
    if not model.has_rt_info(["framework"]):
        return {}
    keys = model.get_rt_info()["framework"]
    return {str(key): str(model.get_rt_info(["framework", key]).astype(str)) for key in keys}


def _properties(config: OpenVinoConfig, hint: str) -> dict[str, Any]:
    properties: dict[str, Any] = {"PERFORMANCE_HINT": hint.upper()}
    if config.threads and config.device in ("CPU", "AUTO"):
        properties["INFERENCE_NUM_THREADS"] = config.threads
    return properties


def _compute_precision(core: Any, compiled: Any) -> str:
    """The precision the device computes in (f32, or bf16 on CPUs with AMX/AVX-512 bf16).
    A model compiled for AUTO does not say: the device it runs on does."""
    try:
        hint = compiled.get_property("INFERENCE_PRECISION_HINT")
    except Exception:  # AUTO: ask the device it picked
        try:
            device = compiled.get_property("EXECUTION_DEVICES")[0]
            hint = core.get_property(device, "INFERENCE_PRECISION_HINT")
        except Exception:  # a plugin without the property
            return "default"
    name = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint)
    return _PRECISIONS.get(name, name)


def _spec(port: Any) -> TensorSpec:
    shape = tuple(dim.get_length() if dim.is_static else None for dim in port.get_partial_shape())
    element = port.get_element_type().get_type_name()
    return TensorSpec(port.get_any_name(), shape, _OV_TYPES.get(element, element))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [line for line in text.splitlines() if line.strip() and "Exception from" not in line]
    return (lines[0] if lines else text.splitlines()[0])[:300]
